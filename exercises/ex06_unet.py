"""Exercise 06: the U-Net's time embedding, residual block and skip connections.
                                                         Lesson: notebooks/06_unet.ipynb

Three pieces of the denoising U-Net (``diffusionlab.nn.unet``), written against the
library's own modules so your answer can be compared with it number for number:

1. ``timestep_embedding``: the sinusoidal features of the timestep t that condition every block;
2. ``resblock_forward``: one residual block, with the time embedding added in the middle;
3. ``unet_forward``: the whole U-Net forward pass: the encoder pushes skips, the decoder
   pops them (last in, first out) and concatenates them to its features.

Conventions: timesteps are 0-based integers (a LongTensor of shape (B,)); images are
(B, C, H, W); channel concatenation is ``torch.cat([h, skip], dim=1)`` (decoder features first).

Grade it:  python -m diffusionlab grade 06      (or, in a notebook: check("06"))
"""
import math  # noqa: F401

import torch
import torch.nn.functional as F  # noqa: F401

from diffusionlab.nn.unet import ResBlock, UNet  # noqa: F401


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal timestep features (DDPM appendix B, after "Attention is all you need" 3.5),
    in Stable Diffusion's layout (diffusers' ``flip_sin_to_cos=True``, ``downscale_freq_shift=0``):

        half   = dim // 2
        f_i    = max_period ** (-i / half),        i = 0 .. half-1   (from 1 down to ~1/max_period)
        emb(t) = [cos(t f_0), ..., cos(t f_{half-1}), sin(t f_0), ..., sin(t f_{half-1})]

    t: (B,) integer timesteps; dim: an even int. Returns (B, dim) float32.

    Hint: ``freqs = torch.exp(-math.log(max_period) * torch.arange(half) / half)``, then
    ``args = t.float()[:, None] * freqs[None, :]`` and concatenate cos before sin on dim -1.
    """
    raise NotImplementedError



def resblock_forward(block: ResBlock, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
    """The forward pass of ``block``, a ``diffusionlab.nn.unet.ResBlock`` (DDPM's residual
    block, diffusers' ``ResnetBlock2D``), using its layers:

        h   = conv1(SiLU(norm1(x)))
        h   = h + time_emb_proj(SiLU(temb))[:, :, None, None]     one shift per channel
        h   = conv2(dropout(SiLU(norm2(h))))
        out = conv_shortcut(x) + h                                 (a 1x1 conv, or the identity)

    x: (B, C_in, H, W); temb: (B, temb_dim), the timestep embedding after its MLP.
    Returns (B, C_out, H, W). Do not call ``block(x, temb)`` itself: use its parts
    (``block.norm1``, ``block.conv1``, ``block.time_emb_proj``, ``block.norm2``,
    ``block.dropout``, ``block.conv2``, ``block.conv_shortcut``).

    Hint: SiLU is ``F.silu``; the projection gives (B, C_out): add two trailing axes so it
    broadcasts over H and W.
    """
    raise NotImplementedError



def unet_forward(net: UNet, x: torch.Tensor, t: torch.Tensor, use_skips: bool = True
                 ) -> torch.Tensor:
    """The U-Net forward pass, walking ``net``'s modules (a ``diffusionlab.nn.unet.UNet``
    built without ``context_dim``):

        temb  = net.time_embedding(t)
        h     = net.conv_in(x);                     skips = [h]
        for level in net.down_blocks:               encoder
            for j, resnet in enumerate(level.resnets):
                h = resnet(h, temb)
                if level.attentions: h = level.attentions[j](h)
                skips.append(h)
            if level.resampler is not None:         Downsample (not at the last level)
                h = level.resampler(h);             skips.append(h)
        h = net.mid_block(h, temb, None, None)      ResBlock, attention, ResBlock
        for level in net.up_blocks:                 decoder
            for j, resnet in enumerate(level.resnets):
                s = skips.pop()                     last in, first out
                h = resnet(torch.cat([h, s], dim=1), temb)
                if level.attentions: h = level.attentions[j](h)
            if level.resampler is not None:         Upsample (not at the top level)
                h = level.resampler(h)
        out = net.conv_out(SiLU(net.conv_norm_out(h)))

    With ``use_skips=False`` (the ablation of lesson 06), concatenate ``torch.zeros_like(s)``
    instead of ``s``: same shapes, no information across the "U".

    x: (B, C, H, W); t: (B,) integer timesteps. Returns (B, C_out, H, W), equal to
    ``net(x, t)`` for a net built with the same ``use_skips``.

    Hint: the pseudo-code above is the whole answer; ``resnet(h, temb)`` (or your
    ``resblock_forward(resnet, h, temb)``) runs one ResBlock.
    """
    raise NotImplementedError
