"""The denoising U-Net (D31-Q19): an encoder-decoder with skip connections, time
conditioning in every block and attention at low resolution.

The shape follows DDPM (Ho et al. 2020, appendix B) and diffusers'
``UNet2DConditionModel`` at toy scale:

    conv_in                                     (B, C_in, H, W) -> (B, c0, H, W)        skip 0
    down level i (channel mult m_i):
        layers_per_block x [ResBlock (+ SpatialTransformer if attention_levels[i])]    one skip each
        Downsample (stride-2 conv), except at the last level                           one skip
    mid:      ResBlock, SpatialTransformer, ResBlock                 (lowest resolution)
    up level i (reversed):
        (layers_per_block + 1) x [concat(h, skips.pop()) -> ResBlock (+ SpatialTransformer)]
        Upsample (nearest x2 + conv), except at level 0
    conv_norm_out -> SiLU -> conv_out           (B, c0, H, W) -> (B, C_out, H, W)

Every ResBlock receives the timestep embedding (``TimestepEmbedding``: sinusoid,
Linear, SiLU, Linear) and adds a per-channel projection of it to its features,
so the noise level steers every block, not only the input.

Skip connections carry each encoder feature map straight across to the decoder
block at the same resolution, where it is concatenated to the upsampled
features. That is what lets fine, high-frequency detail skip the bottleneck.
``use_skips=False`` is the ablation: every skip tensor is replaced by zeros of
the same shape, so the architecture and the parameter count stay identical and
only the information flow across the "U" changes (the decoder weights that read
the skip channels then see zeros and never learn anything). The zeroing happens in
``decode``, after any ControlNet ``down_residuals`` were added, so a no-skip U-Net
ignores those too.

Attention: a ``SpatialTransformer`` (from ``diffusionlab.nn.attention``) sits
after the ResBlocks of every level flagged in ``attention_levels`` and always in
the middle block. With ``context_dim`` set, it cross-attends to ``context``
(B, L, context_dim), e.g. the text encoder's token states (D31-Q10); without
``context_dim`` the same blocks are self-attention only. Attention costs
O((H W)^2), which is why it lives at the low resolutions.

ControlNet hooks (Zhang et al. 2023; diffusers' ``down_block_additional_residuals``
and ``mid_block_additional_residual``): ``forward(..., down_residuals=[...],
mid_residual=...)`` adds one tensor per skip (shapes in ``skip_shapes(H, W)``,
channels in ``self.skip_channels``) and one to the middle block's output.
``encode`` runs the encoder only, returning (skips, mid, temb), so a ControlNet
can run a trainable copy of it. ``conditioning_channels`` widens ``conv_in`` for
extra input channels (the 9-channel inpainting U-Net, D35-Q8).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_choice, check_int, check_number, check_tensor
from .attention import SpatialTransformer
from .blocks import Downsample, ResBlock, Upsample, group_norm
from .embeddings import TimestepEmbedding


def _group_norm(channels: int) -> nn.GroupNorm:
    """The U-Net's norm: up to 8 groups of at least 4 channels (``blocks.group_norm``)."""
    return group_norm(channels, min_group_size=4)


ATTENTION_NORMS = ("sd", "resnet")


def _attention(channels: int, context_dim, num_heads: int, attention_norm: str):
    """A ``SpatialTransformer`` whose GroupNorm has up to 32 groups (``attention_norm="sd"``,
    SD's ``Transformer2DModel``) or the ResBlocks' groups (``"resnet"``: what diffusers'
    ``UNet2DConditionModel`` builds, one ``norm_num_groups`` for every norm)."""
    groups = _group_norm(channels).num_groups if attention_norm == "resnet" else None
    return SpatialTransformer(channels, context_dim=context_dim, heads=num_heads,
                              norm_groups=groups)


class _Level(nn.Module):
    """One resolution of the down or up path: resnets, optional attentions, resampler."""

    def __init__(self):
        super().__init__()
        self.resnets = nn.ModuleList()
        self.attentions = nn.ModuleList()   # empty where the level has no attention
        self.resampler: nn.Module | None = None


class _MidBlock(nn.Module):
    def __init__(self, channels: int, temb_dim: int, context_dim, num_heads: int, dropout: float,
                 attention_norm: str = "sd"):
        super().__init__()
        self.resnets = nn.ModuleList([ResBlock(channels, channels, temb_dim, dropout),
                                      ResBlock(channels, channels, temb_dim, dropout)])
        self.attentions = nn.ModuleList([_attention(channels, context_dim, num_heads,
                                                    attention_norm)])

    def forward(self, h, temb, context, mask):
        h = self.resnets[0](h, temb)
        h = self.attentions[0](h, context=context, mask=mask)
        return self.resnets[1](h, temb)


class UNet(nn.Module):
    """Noise-prediction U-Net for pixels (3 x 32 x 32) or latents (4 x 8 x 8), any size
    divisible by 2^(len(channel_mults) - 1).

    ``forward(x, t, context=None, context_mask=None, down_residuals=None, mid_residual=None)``
    returns a tensor of x's shape with ``out_channels`` channels (default: in_channels).
    ``attention_norm``: the attention blocks' GroupNorm, "sd" (up to 32 groups, SD's
    ``Transformer2DModel``; the shipped models) or "resnet" (the ResBlocks' groups, so that
    the U-Net maps onto a stock diffusers ``UNet2DConditionModel``: ``diffusionlab.export``).
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None,
                 base_channels: int = 32, channel_mults=(1, 2, 2), layers_per_block: int = 1,
                 attention_levels=(False, True, True), context_dim: int | None = None,
                 num_heads: int = 4, use_skips: bool = True, dropout: float = 0.0,
                 conditioning_channels: int = 0, addition_time_embed_dim: int | None = None,
                 projection_class_embeddings_input_dim: int | None = None,
                 attention_norm: str = "sd"):
        super().__init__()
        check_choice("attention_norm", attention_norm, ATTENTION_NORMS)
        in_channels = check_int("in_channels", in_channels, minimum=1)
        out_channels = in_channels if out_channels is None else check_int(
            "out_channels", out_channels, minimum=1)
        base_channels = check_int("base_channels", base_channels, minimum=1)
        channel_mults = tuple(check_int("channel_mults entries", m, minimum=1)
                              for m in channel_mults)
        if not channel_mults:
            raise ValueError("channel_mults must have at least one level, got ()")
        attention_levels = tuple(bool(a) for a in attention_levels)
        if len(attention_levels) != len(channel_mults):
            raise ValueError(f"attention_levels must have one flag per level "
                             f"({len(channel_mults)}), got {len(attention_levels)}")
        layers_per_block = check_int("layers_per_block", layers_per_block, minimum=1)
        if context_dim is not None:
            context_dim = check_int("context_dim", context_dim, minimum=1)
        num_heads = check_int("num_heads", num_heads, minimum=1)
        if not isinstance(use_skips, bool):
            raise TypeError(f"use_skips must be a bool, got {type(use_skips).__name__}")
        dropout = check_number("dropout", dropout, minimum=0.0, maximum=1.0)
        conditioning_channels = check_int("conditioning_channels", conditioning_channels, minimum=0)
        if (addition_time_embed_dim is None) != (projection_class_embeddings_input_dim is None):
            raise ValueError("addition_time_embed_dim and projection_class_embeddings_input_dim "
                             "go together (SDXL's added conditioning): give both or neither")
        if addition_time_embed_dim is not None:
            addition_time_embed_dim = check_int("addition_time_embed_dim",
                                                addition_time_embed_dim, minimum=2)
            projection_class_embeddings_input_dim = check_int(
                "projection_class_embeddings_input_dim", projection_class_embeddings_input_dim,
                minimum=6 * addition_time_embed_dim + 1)
        widths = [base_channels * m for m in channel_mults]
        attn_widths = [w for w, a in zip(widths, attention_levels) if a] + [widths[-1]]
        for w in attn_widths:
            if w % num_heads:
                raise ValueError(f"num_heads ({num_heads}) must divide the width of every "
                                 f"attention block, got a block of width {w}")

        self.config = dict(in_channels=in_channels, out_channels=out_channels,
                           base_channels=base_channels, channel_mults=list(channel_mults),
                           layers_per_block=layers_per_block,
                           attention_levels=list(attention_levels), context_dim=context_dim,
                           num_heads=num_heads, use_skips=use_skips, dropout=dropout,
                           conditioning_channels=conditioning_channels)
        if addition_time_embed_dim is not None:          # only SDXL-style U-Nets record it
            self.config.update(addition_time_embed_dim=addition_time_embed_dim,
                               projection_class_embeddings_input_dim=
                               projection_class_embeddings_input_dim)
        if attention_norm != "sd":                       # the shipped configs predate it
            self.config.update(attention_norm=attention_norm)
        self.addition_time_embed_dim = addition_time_embed_dim
        self.in_channels, self.out_channels = in_channels, out_channels
        self.conditioning_channels = conditioning_channels
        self.context_dim = context_dim
        self.use_skips = use_skips
        self.num_levels = len(channel_mults)
        self.downscale = 2 ** (self.num_levels - 1)

        temb_dim = 4 * base_channels
        self.time_embedding = TimestepEmbedding(base_channels, temb_dim)
        # SDXL's added conditioning (diffusers' add_embedding, addition_embed_type="text_time"):
        # MLP(c_add) is added to the timestep embedding, c_add = added_condition_embedding(...)
        self.add_embedding = None if addition_time_embed_dim is None else nn.Sequential(
            nn.Linear(projection_class_embeddings_input_dim, temb_dim), nn.SiLU(),
            nn.Linear(temb_dim, temb_dim))
        self.conv_in = nn.Conv2d(in_channels + conditioning_channels, base_channels, 3, padding=1)

        # Encoder: every resnet output and every downsampler output becomes a skip.
        skip_channels = [base_channels]
        skip_scales = [1]               # downsampling factor of each skip
        self.down_blocks = nn.ModuleList()
        ch, scale = base_channels, 1
        for i, width in enumerate(widths):
            level = _Level()
            for _ in range(layers_per_block):
                level.resnets.append(ResBlock(ch, width, temb_dim, dropout))
                ch = width
                if attention_levels[i]:
                    level.attentions.append(_attention(ch, context_dim, num_heads,
                                                       attention_norm))
                skip_channels.append(ch)
                skip_scales.append(scale)
            if i < self.num_levels - 1:
                level.resampler = Downsample(ch)
                scale *= 2
                skip_channels.append(ch)
                skip_scales.append(scale)
            self.down_blocks.append(level)

        self.mid_block = _MidBlock(ch, temb_dim, context_dim, num_heads, dropout, attention_norm)
        self.skip_channels = list(skip_channels)
        self.skip_scales = list(skip_scales)

        # Decoder: mirror image, one extra resnet per level, each eating one skip (LIFO).
        pending = list(skip_channels)
        self.up_blocks = nn.ModuleList()
        for i in reversed(range(self.num_levels)):
            level = _Level()
            for _ in range(layers_per_block + 1):
                level.resnets.append(ResBlock(ch + pending.pop(), widths[i], temb_dim, dropout))
                ch = widths[i]
                if attention_levels[i]:
                    level.attentions.append(_attention(ch, context_dim, num_heads,
                                                       attention_norm))
            if i > 0:
                level.resampler = Upsample(ch)
            self.up_blocks.append(level)
        assert not pending

        self.conv_norm_out = _group_norm(ch)
        self.conv_out = nn.Conv2d(ch, out_channels, 3, padding=1)

    # ---------------------------------------------------------------- shapes
    def skip_shapes(self, height: int, width: int) -> list[tuple[int, int, int]]:
        """(C, H, W) of each skip (and of each ``down_residuals`` entry) for an input of H x W."""
        return [(c, height // s, width // s) for c, s in zip(self.skip_channels, self.skip_scales)]

    def mid_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """(C, H, W) of the middle block's output (and of ``mid_residual``)."""
        return (self.skip_channels[-1], height // self.downscale, width // self.downscale)

    # ------------------------------------------------------------ validation
    def _check_added(self, x, text_embeds, time_ids):
        """SDXL's added conditioning: required iff the U-Net was built with it."""
        if self.add_embedding is None:
            if text_embeds is not None or time_ids is not None:
                raise ValueError("text_embeds/time_ids were given but this UNet has no added "
                                 "conditioning (build it with addition_time_embed_dim=...)")
            return
        P = self.config["projection_class_embeddings_input_dim"] - 6 * self.addition_time_embed_dim
        B = x.shape[0]
        if text_embeds is None or time_ids is None:
            raise ValueError(f"this UNet needs text_embeds ({B}, {P}) and time_ids ({B}, 6) "
                             "(SDXL's added conditioning)")
        check_tensor("text_embeds", text_embeds, ndim=2)
        check_tensor("time_ids", time_ids, ndim=2)
        if tuple(text_embeds.shape) != (B, P):
            raise ValueError(f"text_embeds must have shape ({B}, {P}), got {tuple(text_embeds.shape)}")
        if tuple(time_ids.shape) != (B, 6):
            raise ValueError(f"time_ids must have shape ({B}, 6), got {tuple(time_ids.shape)}")

    def added_embedding(self, text_embeds, time_ids) -> torch.Tensor | None:
        """MLP(added_condition_embedding(text_embeds, time_ids)): what is added to the
        timestep embedding (None for a U-Net without added conditioning)."""
        if self.add_embedding is None:
            return None
        from .embeddings import added_condition_embedding

        return self.add_embedding(added_condition_embedding(text_embeds, time_ids,
                                                            self.addition_time_embed_dim))

    def _check_inputs(self, x, t, context, context_mask):
        check_tensor("x", x, ndim=4)
        B, C, H, W = x.shape
        expected = self.in_channels + self.conditioning_channels
        if C != expected:
            extra = (f" ({self.in_channels} + {self.conditioning_channels} conditioning)"
                     if self.conditioning_channels else "")
            raise ValueError(f"x must have {expected} channels{extra}, got shape {tuple(x.shape)}")
        if H % self.downscale or W % self.downscale:
            raise ValueError(f"x's height and width must be divisible by {self.downscale} "
                             f"(2^(levels-1) for {self.num_levels} levels), got {H}x{W}")
        t = self._check_t(t, B, x.device)
        if self.context_dim is None:
            if context is not None:
                raise ValueError("context was given but this UNet has context_dim=None "
                                 "(build it with context_dim=... for cross-attention)")
            if context_mask is not None:
                raise ValueError("context_mask was given but this UNet has no cross-attention")
        else:
            if context is None:
                raise ValueError(f"context is required: this UNet cross-attends to a "
                                 f"(B, L, {self.context_dim}) tensor "
                                 f"(context_dim={self.context_dim})")
            check_tensor("context", context, ndim=3)
            if context.shape[0] != B or context.shape[2] != self.context_dim:
                raise ValueError(f"context must have shape ({B}, L, {self.context_dim}), "
                                 f"got {tuple(context.shape)}")
            if context_mask is not None:
                if not isinstance(context_mask, torch.Tensor) or tuple(context_mask.shape) != \
                        tuple(context.shape[:2]):
                    got = (tuple(context_mask.shape) if isinstance(context_mask, torch.Tensor)
                           else type(context_mask).__name__)
                    raise ValueError(f"context_mask must be a tensor of shape "
                                     f"{tuple(context.shape[:2])} (batch, tokens), got {got}")
        return t

    @staticmethod
    def _check_t(t, batch: int, device) -> torch.Tensor:
        """t: an int, or a 0-d / 1-D tensor of B (or 1) timesteps >= 0; returns shape (B,)."""
        if isinstance(t, bool):
            raise TypeError("t must be an int or a tensor of timesteps, got bool")
        if isinstance(t, (int, float)):
            t = torch.tensor([t])
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"t must be an int or a tensor of timesteps, got {type(t).__name__}")
        if t.dtype == torch.bool or t.is_complex():
            raise TypeError(f"t must hold integer or real timesteps, got dtype {t.dtype}")
        t = t.reshape(-1) if t.ndim == 0 else t
        if t.ndim != 1:
            raise ValueError(f"t must be a scalar or a 1-D tensor, got shape {tuple(t.shape)}")
        if t.numel() == 1:
            t = t.expand(batch)
        elif t.numel() != batch:
            raise ValueError(f"t has {t.numel()} timesteps but x has a batch of {batch}")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError("t must be finite")
        if bool((t < 0).any()):
            raise ValueError(f"t must be >= 0 (0-based timesteps), got min {t.min().item()}")
        return t.to(device)

    def _check_residuals(self, down_residuals, mid_residual, x):
        H, W = x.shape[-2:]
        B = x.shape[0]
        if down_residuals is not None:
            if not isinstance(down_residuals, (list, tuple)):
                raise TypeError(f"down_residuals must be a list of tensors, one per skip, "
                                f"got {type(down_residuals).__name__}")
            if len(down_residuals) != len(self.skip_channels):
                raise ValueError(f"down_residuals must have {len(self.skip_channels)} tensors "
                                 f"(one per skip, see skip_channels), got {len(down_residuals)}")
            for k, (r, shape) in enumerate(zip(down_residuals, self.skip_shapes(H, W))):
                check_tensor(f"down_residuals[{k}]", r, ndim=4)
                if tuple(r.shape) != (B, *shape):
                    raise ValueError(f"down_residuals[{k}] must have shape {(B, *shape)}, "
                                     f"got {tuple(r.shape)}")
        if mid_residual is not None:
            check_tensor("mid_residual", mid_residual, ndim=4)
            shape = (B, *self.mid_shape(H, W))
            if tuple(mid_residual.shape) != shape:
                raise ValueError(f"mid_residual must have shape {shape}, "
                                 f"got {tuple(mid_residual.shape)}")

    # ------------------------------------------------------------- forward
    @staticmethod
    def _attend(level: _Level, j: int, h, context, mask):
        if len(level.attentions):
            h = level.attentions[j](h, context=context, mask=mask)
        return h

    def _encode(self, x, t, context, context_mask, input_residual=None, added=None):
        return run_encoder(self, x, t, context, context_mask, input_residual, added)

    def encode(self, x: torch.Tensor, t, context: torch.Tensor | None = None,
               context_mask: torch.Tensor | None = None,
               input_residual: torch.Tensor | None = None):
        """Run the encoder and the middle block only.

        Returns ``(skips, mid, temb)``: the list of skip tensors (shapes ``skip_shapes(H, W)``),
        the middle block's output and the time embedding. ``input_residual`` (shape of
        conv_in's output, (B, base_channels, H, W)) is added right after conv_in, where a
        ControlNet injects its condition.
        """
        t = self._check_inputs(x, t, context, context_mask)
        if input_residual is not None:
            check_tensor("input_residual", input_residual, ndim=4)
            shape = (x.shape[0], *self.skip_shapes(*x.shape[-2:])[0])
            if tuple(input_residual.shape) != shape:
                raise ValueError(f"input_residual must have shape {shape}, "
                                 f"got {tuple(input_residual.shape)}")
        return self._encode(x, t, context, context_mask, input_residual)

    def decode(self, skips: list[torch.Tensor], mid: torch.Tensor, temb: torch.Tensor,
               context: torch.Tensor | None = None,
               context_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Run the decoder from ``encode``'s outputs (skips are consumed last-in first-out)."""
        if len(skips) != len(self.skip_channels):
            raise ValueError(f"skips must have {len(self.skip_channels)} tensors, got {len(skips)}")
        skips = list(skips)
        h = mid
        for level in self.up_blocks:
            for j, resnet in enumerate(level.resnets):
                skip = skips.pop()
                if not self.use_skips:      # ablation: same shapes and weights, no information
                    skip = torch.zeros_like(skip)
                h = resnet(torch.cat([h, skip], dim=1), temb)
                h = self._attend(level, j, h, context, context_mask)
            if level.resampler is not None:
                h = level.resampler(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))

    def forward(self, x: torch.Tensor, t, context: torch.Tensor | None = None,
                context_mask: torch.Tensor | None = None,
                down_residuals: list[torch.Tensor] | None = None,
                mid_residual: torch.Tensor | None = None, text_embeds: torch.Tensor | None = None,
                time_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Predict (by default) the noise in ``x`` at timestep ``t``.

        x: (B, in_channels + conditioning_channels, H, W); t: int or (B,) timesteps;
        context: (B, L, context_dim) iff the model has context_dim; context_mask: (B, L),
        passed to the attention blocks. down_residuals / mid_residual: ControlNet outputs,
        added to the skips / middle block output (diffusers' down_block_additional_residuals /
        mid_block_additional_residual). text_embeds (B, P) and time_ids (B, 6): SDXL's added
        conditioning (diffusers' ``added_cond_kwargs``), for a U-Net built with
        ``addition_time_embed_dim``.
        """
        t = self._check_inputs(x, t, context, context_mask)
        self._check_residuals(down_residuals, mid_residual, x)
        self._check_added(x, text_embeds, time_ids)
        skips, h, temb = self._encode(x, t, context, context_mask,
                                      added=self.added_embedding(text_embeds, time_ids))
        if down_residuals is not None:
            skips = [s + r for s, r in zip(skips, down_residuals)]
        if mid_residual is not None:
            h = h + mid_residual
        return self.decode(skips, h, temb, context, context_mask)

    def describe(self, height: int = 32, width: int = 32) -> str:
        """A table of the feature shapes (C, H, W) at every stage for an H x W input,
        with the skip each encoder stage pushes and each decoder ResBlock pops."""
        shapes = self.skip_shapes(height, width)
        kind = "cross-attention" if self.context_dim is not None else "attention"
        rows = [("input", (self.in_channels + self.conditioning_channels, height, width), ""),
                ("conv_in", shapes[0], "-> skip 0")]
        k = 0
        for i, level in enumerate(self.down_blocks):
            attn = f" + {kind}" if len(level.attentions) else ""
            for _ in level.resnets:
                k += 1
                rows.append((f"down {i}: ResBlock{attn}", shapes[k], f"-> skip {k}"))
            if level.resampler is not None:
                k += 1
                rows.append((f"down {i}: Downsample", shapes[k], f"-> skip {k}"))
        rows.append((f"mid: ResBlock + {kind} + ResBlock", self.mid_shape(height, width), ""))
        pending = list(range(len(shapes)))
        for n, level in enumerate(self.up_blocks):
            i = self.num_levels - 1 - n
            attn = f" + {kind}" if len(level.attentions) else ""
            for resnet in level.resnets:
                s = pending.pop()
                c, ds = resnet.conv1.out_channels, self.skip_scales[s]
                rows.append((f"up {i}: ResBlock{attn}", (c, height // ds, width // ds),
                             f"<- skip {s}" + ("" if self.use_skips else " (zeros)")))
            if level.resampler is not None:
                ds = self.skip_scales[pending[-1]]
                rows.append((f"up {i}: Upsample", (c, height // ds, width // ds), ""))
        rows.append(("conv_out", (self.out_channels, height, width), ""))
        width_label = max(len(r[0]) for r in rows) + 2
        return "\n".join(f"{label:{width_label}s}{str(shape):15s}{note}".rstrip()
                         for label, shape, note in rows)

    @classmethod
    def pretrained(cls, name: str = "unet_pixel", device: str | torch.device = "cpu") -> "UNet":
        """Load a shipped U-Net checkpoint (e.g. ``unet_pixel``, ``unet_pixel_noskip``)."""
        from ..checkpoints import load_checkpoint, weights_path

        return load_checkpoint(cls, weights_path(name), device=device)


def run_encoder(net: nn.Module, x, t, context, context_mask, input_residual=None, added=None):
    """The encoder half of a U-Net: time embedding, conv_in, down levels, middle block.

    ``net`` is anything with ``time_embedding``, ``conv_in``, ``down_blocks`` and
    ``mid_block`` (a ``UNet``, or a ``ControlNet``'s trainable copy of them). Returns
    ``(skips, mid, temb)``; ``input_residual`` is added right after conv_in (where a
    ControlNet adds its embedded condition image); ``added`` (B, temb_dim), SDXL's embedded
    added conditioning, is added to the timestep embedding.
    """
    temb = net.time_embedding(t)
    if added is not None:
        temb = temb + added
    h = net.conv_in(x)
    if input_residual is not None:
        h = h + input_residual
    skips = [h]
    for level in net.down_blocks:
        for j, resnet in enumerate(level.resnets):
            h = resnet(h, temb)
            if len(level.attentions):
                h = level.attentions[j](h, context=context, mask=context_mask)
            skips.append(h)
        if level.resampler is not None:
            h = level.resampler(h)
            skips.append(h)
    h = net.mid_block(h, temb, context, context_mask)
    return skips, h, temb


class ExtraInputUNet(nn.Module):
    """A U-Net built with ``conditioning_channels`` called as ``f(z_t, t, context)`` for a
    fixed condition ``cond`` (B, conditioning_channels, h, w): the input is [z_t, cond], with
    ``cond`` repeated for the doubled batch of classifier-free guidance. The inpainting U-Net
    (mask + masked-image latents) and lesson 11's map-as-input fine-tune are both this."""

    def __init__(self, unet: UNet, cond: torch.Tensor):
        super().__init__()
        self.unet, self.cond = unet, cond
        self.in_channels, self.context_dim = unet.in_channels, unet.context_dim

    def forward(self, x, t, context=None, context_mask=None):
        cond = self.cond.repeat(x.shape[0] // self.cond.shape[0], 1, 1, 1)
        return self.unet(torch.cat([x, cond], dim=1), t, context, context_mask)
