"""A small MLP denoiser for 2-D toy data: f(x_t, t) -> prediction of eps, x_0 or v.

The timestep enters as a sinusoidal embedding added to every hidden layer
(the same conditioning the U-Net uses, without the convolutions).
"""
from __future__ import annotations

import torch
from torch import nn

from .._checks import check_int, check_tensor
from .embeddings import TimestepEmbedding


class ToyDenoiser(nn.Module):
    def __init__(self, dim: int = 2, hidden: int = 128, layers: int = 3, time_dim: int = 32):
        super().__init__()
        self.config = {"dim": check_int("dim", dim, minimum=1),
                       "hidden": check_int("hidden", hidden, minimum=1),
                       "layers": check_int("layers", layers, minimum=1),
                       "time_dim": check_int("time_dim", time_dim, minimum=2)}
        self.time_embed = TimestepEmbedding(time_dim, hidden)
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.out = nn.Linear(hidden, dim)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=2)
        if x.shape[1] != self.config["dim"]:
            raise ValueError(f"x must have {self.config['dim']} features, got shape {tuple(x.shape)}")
        if not isinstance(t, torch.Tensor) or t.shape != (x.shape[0],):
            raise ValueError(f"t must be a tensor of shape ({x.shape[0]},), got "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
        temb = self.time_embed(t)
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(self.act(h + temb))      # residual MLP block, time added at each layer
        return self.out(self.act(h))
