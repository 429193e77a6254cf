"""2-D toy distributions: the whole diffusion machinery trains on them in seconds.

Every sampler returns a float32 tensor (n, 2), scaled to roughly unit standard
deviation (the same role as images in [-1, 1]), deterministic given ``seed``.
Mixtures also expose their mode centres (``toy_modes``) so a lesson can count
how many modes a generator covers.
"""
from __future__ import annotations

import math

import torch

from .._checks import check_choice, check_int

TOYS = ("8gaussians", "25gaussians", "swissroll", "moons", "checkerboard")


def toy_modes(name: str) -> torch.Tensor | None:
    """Centres of the mixture components (scaled like the samples), or None if not a mixture."""
    check_choice("name", name, TOYS)
    if name == "8gaussians":
        ang = torch.arange(8) * (2 * math.pi / 8)
        return torch.stack([ang.cos(), ang.sin()], dim=1) * 1.4
    if name == "25gaussians":
        g = torch.arange(-2, 3, dtype=torch.float32) * 0.7
        return torch.cartesian_prod(g, g)
    return None


def sample_toy(name: str, n: int, seed: int = 0) -> torch.Tensor:
    """Draw ``n`` points of the named toy distribution."""
    check_choice("name", name, TOYS)
    n = check_int("n", n, minimum=1)
    g = torch.Generator().manual_seed(check_int("seed", seed))
    if name in ("8gaussians", "25gaussians"):
        centres = toy_modes(name)
        idx = torch.randint(len(centres), (n,), generator=g)
        std = 0.1 if name == "8gaussians" else 0.05
        return centres[idx] + std * torch.randn(n, 2, generator=g)
    if name == "swissroll":
        r = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
        pts = torch.stack([r * r.cos(), r * r.sin()], dim=1) / 7.0
        return pts + 0.03 * torch.randn(n, 2, generator=g)
    if name == "moons":
        upper = torch.rand(n, generator=g) < 0.5
        ang = math.pi * torch.rand(n, generator=g)
        x = torch.where(upper, ang.cos(), 1 - ang.cos())
        y = torch.where(upper, ang.sin(), 0.5 - ang.sin())
        pts = torch.stack([x - 0.5, y - 0.25], dim=1) * 1.6
        return pts + 0.05 * torch.randn(n, 2, generator=g)
    # checkerboard: 4x4 board on [-2, 2]^2, alternate cells filled
    x = 4 * torch.rand(n, generator=g) - 2
    col = torch.floor(x + 2)
    row = 2 * torch.randint(0, 2, (n,), generator=g) + (col % 2)
    y = row - 2 + torch.rand(n, generator=g)
    return torch.stack([x, y], dim=1) * 0.85
