"""Sinusoidal timestep embeddings (DDPM appendix B, after "Attention is all you need" 3.5).

    emb(t)[i]        = sin(t * f_i),   emb(t)[i + d/2] = cos(t * f_i)
    f_i              = max_period^(-i / (d/2 - shift))

The same function as diffusers' ``get_timestep_embedding`` (with
``flip_sin_to_cos=True``, ``downscale_freq_shift=0``, SD's choice, the cos half
comes first). ``TimestepEmbedding`` then maps it through a small MLP.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import check_int


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0,
                       flip_sin_to_cos: bool = True, downscale_freq_shift: float = 0.0
                       ) -> torch.Tensor:
    """(B,) timesteps -> (B, dim) sinusoidal features."""
    if not isinstance(t, torch.Tensor) or t.ndim != 1:
        raise ValueError(f"t must be a 1-D tensor of timesteps, got "
                         f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
    dim = check_int("dim", dim, minimum=2)
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device)
    freqs = torch.exp(exponent / (half - downscale_freq_shift))
    args = t.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    if dim % 2 == 1:
        emb = nn.functional.pad(emb, (0, 1))
    return emb


class TimestepEmbedding(nn.Module):
    """sinusoid(t) -> Linear -> SiLU -> Linear, as in DDPM and diffusers."""

    def __init__(self, freq_dim: int, embed_dim: int):
        super().__init__()
        self.freq_dim = freq_dim
        self.linear_1 = nn.Linear(freq_dim, embed_dim)
        self.act = nn.SiLU()
        self.linear_2 = nn.Linear(embed_dim, embed_dim)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(timestep_embedding(t, self.freq_dim))))
