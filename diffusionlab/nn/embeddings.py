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


# ---------------------------------------------------------------- SDXL's added conditioning
def _pair_tensor(name: str, value, batch_size: int, minimum: int) -> torch.Tensor:
    """A (h, w) / (top, left) pair of ints, or a (B, 2) tensor -> (batch_size, 2) float32."""
    if isinstance(value, torch.Tensor):
        if value.ndim != 2 or value.shape[1] != 2:
            raise ValueError(f"{name} must be a (h, w) pair or a (B, 2) tensor, "
                             f"got a tensor of shape {tuple(value.shape)}")
        if value.shape[0] not in (1, batch_size):
            raise ValueError(f"{name} has {value.shape[0]} rows but batch_size is {batch_size}")
        out = value.float().expand(batch_size, 2)
    else:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
            raise ValueError(f"{name} must be a pair of ints like (32, 32), got {value!r}")
        vals = [check_int(f"{name} entries", v) for v in value]
        out = torch.tensor([vals], dtype=torch.float32).expand(batch_size, 2)
    if bool((out < minimum).any()):
        what = "sizes >= 1" if minimum == 1 else "offsets >= 0"
        raise ValueError(f"{name} must hold {what}, got {value if not isinstance(value, torch.Tensor) else out.min().item()}")
    return out


def micro_conditioning_ids(original_size, crops_coords_top_left, target_size,
                           batch_size: int = 1) -> torch.Tensor:
    """SDXL's six micro-conditioning numbers (Podell et al. 2023, sections 2.2 and 2.3),
    (batch_size, 6) float32 in diffusers' ``_get_add_time_ids`` order:

        [orig_h, orig_w, crop_top, crop_left, target_h, target_w]

    original_size: the image's size before it was resized or cropped for training (c_size);
    crops_coords_top_left: where the training crop started (c_crop); target_size: the size
    the model is asked to draw (the aspect bucket, section 2.3). Each a (h, w) / (top, left)
    pair of ints (the same for every row) or a (B, 2) tensor. Sizes must be >= 1 and crop
    offsets >= 0.
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)
    rows = []
    for name, value, minimum in (("original_size", original_size, 1),
                                 ("crops_coords_top_left", crops_coords_top_left, 0),
                                 ("target_size", target_size, 1)):
        rows.append(_pair_tensor(name, value, batch_size, minimum))
    return torch.cat(rows, dim=1).contiguous()


def added_condition_embedding(pooled: torch.Tensor, time_ids: torch.Tensor, dim: int) -> torch.Tensor:
    """SDXL's added conditioning vector (diffusers' ``addition_embed_type="text_time"``):

        c_add = [pooled text ; Fourier(orig_h) ; ... ; Fourier(target_w)]     (B, P + 6 * dim)

    each of the six numbers embedded on its own with ``timestep_embedding(., dim)``
    (flip_sin_to_cos=True, shift 0: SDXL's ``add_time_proj``), text first. The U-Net maps
    c_add through an MLP (``add_embedding``) and adds it to the timestep embedding, so size,
    crop and the pooled prompt steer every ResBlock the way the noise level does.
    """
    if not isinstance(pooled, torch.Tensor) or pooled.ndim != 2:
        raise ValueError(f"pooled must be a (B, P) tensor, got "
                         f"{tuple(pooled.shape) if isinstance(pooled, torch.Tensor) else type(pooled).__name__}")
    if not isinstance(time_ids, torch.Tensor) or time_ids.ndim != 2 or time_ids.shape[1] != 6:
        raise ValueError(f"time_ids must be a (B, 6) tensor (micro_conditioning_ids), got "
                         f"{tuple(time_ids.shape) if isinstance(time_ids, torch.Tensor) else type(time_ids).__name__}")
    if time_ids.shape[0] != pooled.shape[0]:
        raise ValueError(f"pooled has {pooled.shape[0]} rows but time_ids has {time_ids.shape[0]}")
    B = pooled.shape[0]
    fourier = timestep_embedding(time_ids.flatten(), dim).reshape(B, 6 * dim)
    return torch.cat([pooled, fourier.to(pooled.dtype)], dim=-1)
