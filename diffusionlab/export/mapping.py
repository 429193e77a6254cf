"""The course's networks as diffusers configs and state dicts, weight for weight.

The course named its modules after diffusers', so most keys carry over unchanged. What
differs (course -> diffusers):

    U-Net and ControlNet
      ...attentions.k.blocks.0...            ...attentions.k.transformer_blocks.0...
      ...attn1.to_out.weight                 ...attn1.to_out.0.weight    (diffusers: Linear, Dropout)
      ...ff.net.1.weight                     ...ff.net.2.weight          (GEGLU, Dropout, Linear)
      down_blocks.i.resampler.conv           down_blocks.i.downsamplers.0.conv
      up_blocks.i.resampler.conv             up_blocks.i.upsamplers.0.conv
      num_heads = 4                          attention_head_dim = 4 (diffusers' old name for
                                             the number of heads in SD's U-Net config)
    VAE
      encoder.down.{2i}  (ResBlock)          encoder.down_blocks.i.resnets.0
      encoder.down.{2i+1} (stride-2 conv)    encoder.down_blocks.i.downsamplers.0.conv
      encoder.mid / decoder.mid              *.mid_block.resnets.0
      decoder.up.{2k} (ResBlock)             decoder.up_blocks.k.resnets.0
      decoder.up.{2k+1}.conv (Upsample)      decoder.up_blocks.k.upsamplers.0.conv
      *.norm_out                             *.conv_norm_out

diffusers' VAE has one more ResBlock in each mid block and in each decoder level than the
course's; those get ``conv2`` = 0, which makes a ResBlock the identity (out = x + conv2(...)
= x). The VAE has no attention in its mid block (``mid_block_add_attention=False``) and no
``quant_conv`` / ``post_quant_conv`` (``use_quant_conv=False``), as the course's.

The sinusoidal time embedding is diffusers' ``get_timestep_embedding`` with
``flip_sin_to_cos=True, downscale_freq_shift=0`` (``nn.embeddings``), the ResBlocks,
``Transformer2DModel`` (1x1 conv ``proj_in``, GEGLU feed-forward, LayerNorms), the
resamplers (stride-2 conv padded by 1; nearest x2 + conv) and the skip order are the same.
The two settings stock diffusers lacks are in ``diffusionlab.export.compat``; a U-Net
built with ``attention_norm="resnet"`` and a VAE with ``downsample_padding=0`` need neither
and export as the stock classes (``diffusionlab.export.diffusers_unet`` / ``diffusers_vae``).
"""
from __future__ import annotations

import re

import torch
from torch import nn


def _groups(module: nn.Module, which: str) -> set[int]:
    """Group counts of the GroupNorms in ``module`` inside (``which="attention"``) or outside
    (``which="resnet"``) its attention blocks."""
    inside = which == "attention"
    return {m.num_groups for name, m in module.named_modules()
            if isinstance(m, nn.GroupNorm) and (".attentions." in f".{name}") == inside}


def _one(values: set[int], what: str) -> int:
    if len(values) != 1:
        raise ValueError(f"{what} use {sorted(values)} groups; diffusers takes one number for "
                         f"all of them, so this model cannot be exported")
    return values.pop()


# ---------------------------------------------------------------------------- U-Net
def unet_config(unet, sample_size: int | None = None) -> dict:
    """The ``CourseUNet2DConditionModel`` config of a course ``UNet`` (a text-conditioned
    latent U-Net with skips, as the tiny SD's), or of a ``ControlNet``'s copy of one.
    ``sample_size``: its latents' side (a pipeline's default image side over the VAE's
    downscale)."""
    c = unet.config.get("unet_config", unet.config)
    if c["context_dim"] is None:
        raise ValueError("unet must cross-attend to a text encoder (context_dim set) to become "
                         "a UNet2DConditionModel, got context_dim=None")
    if not c["use_skips"]:
        raise ValueError("unet has use_skips=False (the ablation); diffusers' U-Net always "
                         "uses its skips")
    widths = [c["base_channels"] * m for m in c["channel_mults"]]
    down = ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in c["attention_levels"]]
    up = ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(c["attention_levels"])]
    return dict(
        sample_size=sample_size, in_channels=c["in_channels"] + c["conditioning_channels"],
        out_channels=c["out_channels"], block_out_channels=widths,
        layers_per_block=c["layers_per_block"], down_block_types=down, up_block_types=up,
        mid_block_type="UNetMidBlock2DCrossAttn", cross_attention_dim=c["context_dim"],
        attention_head_dim=c["num_heads"], flip_sin_to_cos=True, freq_shift=0,
        act_fn="silu", norm_eps=1e-6, downsample_padding=1, use_linear_projection=False,
        norm_num_groups=_one(_groups(unet, "resnet"), "the U-Net's ResBlocks and output norm"),
        attention_norm_num_groups=_one(_groups(unet, "attention"),
                                       "the U-Net's attention blocks"))


_UNET_RULES = [
    (re.compile(r"\.attentions\.(\d+)\.blocks\."), r".attentions.\1.transformer_blocks."),
    (re.compile(r"\.to_out\.(weight|bias)$"), r".to_out.0.\1"),
    (re.compile(r"\.ff\.net\.1\.(weight|bias)$"), r".ff.net.2.\1"),
    (re.compile(r"^down_blocks\.(\d+)\.resampler\."), r"down_blocks.\1.downsamplers.0."),
    (re.compile(r"^up_blocks\.(\d+)\.resampler\."), r"up_blocks.\1.upsamplers.0."),
]


def unet_key(key: str) -> str:
    """A course U-Net (or ControlNet) state-dict key as diffusers names it."""
    for pattern, replacement in _UNET_RULES:
        key = pattern.sub(replacement, key)
    return key


def unet_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s weights (a ``UNet`` or a ``ControlNet``) under diffusers' names."""
    return {unet_key(k): v.detach().clone() for k, v in module.state_dict().items()}


# ---------------------------------------------------------------------------- ControlNet
def controlnet_config(controlnet) -> dict:
    """The ``CourseControlNetModel`` config of a course ``ControlNet``."""
    c = unet_config(controlnet)   # the copy's widths, blocks and norm groups
    c = {k: v for k, v in c.items()
         if k not in ("sample_size", "out_channels", "up_block_types")}
    emb = controlnet.controlnet_cond_embedding
    widths = [emb.conv_in.out_channels] + [b.out_channels for b in emb.blocks[1::2]]
    c.update(conditioning_channels=controlnet.conditioning_channels,
             conditioning_embedding_out_channels=widths,
             controlnet_conditioning_channel_order="rgb")
    return c


# ---------------------------------------------------------------------------- VAE
def vae_config(vae) -> dict:
    """The ``CourseAutoencoderKL`` config of a course ``VAE``."""
    c = vae.config
    levels = len(c["channel_mults"])
    return dict(
        in_channels=c["in_channels"], out_channels=c["in_channels"],
        down_block_types=["DownEncoderBlock2D"] * levels,
        up_block_types=["UpDecoderBlock2D"] * levels,
        block_out_channels=[c["base_channels"] * m for m in c["channel_mults"]],
        layers_per_block=1, act_fn="silu", latent_channels=c["latent_channels"],
        norm_num_groups=_one(_groups(vae, "resnet"), "the VAE's norms"),
        sample_size=32, scaling_factor=float(c["scaling_factor"]),
        mid_block_add_attention=False, use_quant_conv=False, use_post_quant_conv=False,
        force_upcast=False, encoder_downsample_padding=c.get("downsample_padding", 1))


def _copy(out: dict, prefix: str, module: nn.Module) -> None:
    for k, v in module.state_dict().items():
        out[f"{prefix}.{k}"] = v.detach().clone()


def _identity_resnet(out: dict, prefix: str, channels: int) -> None:
    """A diffusers ResnetBlock2D that returns its input: conv2 = 0 makes out = x + 0."""
    for name in ("norm1", "norm2"):
        out[f"{prefix}.{name}.weight"] = torch.ones(channels)
        out[f"{prefix}.{name}.bias"] = torch.zeros(channels)
    for name in ("conv1", "conv2"):
        out[f"{prefix}.{name}.weight"] = torch.zeros(channels, channels, 3, 3)
        out[f"{prefix}.{name}.bias"] = torch.zeros(channels)


def vae_state_dict(vae) -> dict[str, torch.Tensor]:
    """The course ``VAE``'s weights under ``AutoencoderKL``'s names, plus identity ResBlocks
    where diffusers has one more (see the module docstring)."""
    out: dict[str, torch.Tensor] = {}
    enc, dec = vae.encoder, vae.decoder
    _copy(out, "encoder.conv_in", enc.conv_in)
    for j, layer in enumerate(enc.down):          # [ResBlock, Conv, ResBlock, Conv, ..., ResBlock]
        level, is_resnet = divmod(j, 2)[0], j % 2 == 0
        _copy(out, f"encoder.down_blocks.{level}." + ("resnets.0" if is_resnet
                                                       else "downsamplers.0.conv"), layer)
    _copy(out, "encoder.mid_block.resnets.0", enc.mid)
    _identity_resnet(out, "encoder.mid_block.resnets.1", enc.mid.conv2.out_channels)
    _copy(out, "encoder.conv_norm_out", enc.norm_out)
    _copy(out, "encoder.conv_out", enc.conv_out)

    _copy(out, "decoder.conv_in", dec.conv_in)
    _copy(out, "decoder.mid_block.resnets.0", dec.mid)
    _identity_resnet(out, "decoder.mid_block.resnets.1", dec.mid.conv2.out_channels)
    for j, layer in enumerate(dec.up):            # [ResBlock, Upsample, ResBlock, ..., ResBlock]
        level = j // 2
        if j % 2 == 0:
            _copy(out, f"decoder.up_blocks.{level}.resnets.0", layer)
            _identity_resnet(out, f"decoder.up_blocks.{level}.resnets.1",
                             layer.conv2.out_channels)
        else:
            _copy(out, f"decoder.up_blocks.{level}.upsamplers.0.conv", layer.conv)
    _copy(out, "decoder.conv_norm_out", dec.norm_out)
    _copy(out, "decoder.conv_out", dec.conv_out)
    return out


# ---------------------------------------------------------------------------- scheduler
def ddim_scheduler_config(config) -> dict:
    """A course ``SchedulerConfig`` as diffusers' ``DDIMScheduler`` config.

    ``set_alpha_to_one=True``: the course's last DDIM step goes to abar = 1, the clean image
    (``samplers``: t_prev = -1); SD 1.x's config says False (abar_0 instead)."""
    betas = {"linear": ("linear", 1e-4, 0.02),
             "scaled_linear": ("scaled_linear", 0.00085, 0.012),
             "cosine": ("squaredcos_cap_v2", 1e-4, 0.02)}     # start/end unused by cosine
    if config.schedule not in betas:
        raise ValueError(f"the {config.schedule!r} schedule has no DDIMScheduler beta_schedule "
                         f"(it has {sorted(betas)})")
    name, start, end = betas[config.schedule]
    return dict(num_train_timesteps=config.num_train_timesteps, beta_start=start, beta_end=end,
                beta_schedule=name, clip_sample=False, set_alpha_to_one=True,
                steps_offset=config.steps_offset, prediction_type=config.prediction_type,
                timestep_spacing=config.timestep_spacing,
                rescale_betas_zero_snr=config.zero_terminal_snr)
