"""Building blocks the U-Net, the VAE and the attention blocks share: one group-norm rule,
one residual block, one up- and one downsampler (diffusers' ``ResnetBlock2D``,
``Upsample2D``, ``Downsample2D``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def group_norm(channels: int, max_groups: int = 8, min_group_size: int = 1) -> nn.GroupNorm:
    """GroupNorm with the largest number of groups that divides ``channels``, is at most
    ``max_groups`` and keeps at least ``min_group_size`` channels per group (when possible).

    Settings used here (SD uses 32 groups everywhere, with >= 10 channels per group):
    * U-Net ResBlocks: ``min_group_size=4``. GroupNorm removes each group's mean over
      (channels, H, W); with one channel per group (InstanceNorm) it would erase the
      per-channel time-embedding shift that ResBlock adds just before its second norm.
    * VAE: up to 8 groups, any size (no time embedding to protect).
    * attention blocks: up to 32 groups, as SD's ``Transformer2DModel``.
    """
    groups = math.gcd(max_groups, max(1, channels // min_group_size))
    return nn.GroupNorm(groups, channels, eps=1e-6)


class ResBlock(nn.Module):
    """DDPM's residual block (diffusers' ``ResnetBlock2D``):

        h = Conv(SiLU(GroupNorm(x)))
        h = h + Linear(SiLU(temb))[:, :, None, None]     only with a time embedding (U-Net)
        h = Conv(Dropout(SiLU(GroupNorm(h))))
        out = skip(x) + h                                skip = 1x1 conv if channels change

    The VAE uses it without a time embedding (``temb_dim=None``). With one, its norms keep
    at least 4 channels per group (``group_norm``: one-channel groups would erase the
    per-channel time shift).
    """

    def __init__(self, in_channels: int, out_channels: int, temb_dim: int | None = None,
                 dropout: float = 0.0):
        super().__init__()
        min_group_size = 1 if temb_dim is None else 4
        self.norm1 = group_norm(in_channels, min_group_size=min_group_size)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_emb_proj = None if temb_dim is None else nn.Linear(temb_dim, out_channels)
        self.norm2 = group_norm(out_channels, min_group_size=min_group_size)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv_shortcut = (nn.Conv2d(in_channels, out_channels, 1)
                              if in_channels != out_channels else nn.Identity())

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_emb_proj is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.conv_shortcut(x) + h


class Downsample(nn.Module):
    """Halve H and W with a stride-2 3x3 convolution (learned, unlike pooling)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Double H and W: nearest-neighbour upsampling, then a 3x3 convolution
    (avoids the checkerboard artifacts of transposed convolutions)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
