"""Sample quality for 2-D toys, always read against its own noise floor.

Sliced Wasserstein distance (Rabin et al. 2011; Bonneel et al. 2015): project
both point clouds onto many random directions and average the 1-D
Wasserstein-1 distances, which in 1-D is the mean gap between sorted values.

A distance means nothing alone: two fresh samples of the *same* distribution
are not at distance 0. ``toy_quality`` therefore also reports the floor (data
against fresh data of the same size) and the ratio to it; a ratio near 1 means
"as good as this many samples can tell".
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .._checks import check_int, check_tensor
from ..data.toy2d import sample_toy, toy_modes

MIXTURE_STD = {"8gaussians": 0.1, "25gaussians": 0.05}    # as drawn by data.toy2d.sample_toy


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, n_projections: int = 256,
                       seed: int = 0) -> float:
    """Mean over random unit directions of W1 between the projected samples."""
    check_tensor("a", a, ndim=2)
    check_tensor("b", b, ndim=2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same dimension, got {a.shape[1]} and {b.shape[1]}")
    n = min(a.shape[0], b.shape[0])
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(a.shape[1], check_int("n_projections", n_projections, minimum=1), generator=g)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    pa = (a[:n].double() @ dirs.double()).sort(dim=0).values
    pb = (b[:n].double() @ dirs.double()).sort(dim=0).values
    return float((pa - pb).abs().mean())


@dataclass
class ToyQuality:
    distance: float   # sliced W1 between the samples and fresh data
    floor: float      # the same distance between two fresh data sets of the same size
    ratio: float      # distance / floor: ~1 is as good as it gets
    modes_covered: int | None = None   # mixtures only: modes that received >= 1% of the samples
    num_modes: int | None = None

    def __str__(self) -> str:
        s = f"SW = {self.distance:.3f} (floor {self.floor:.3f}, ratio {self.ratio:.1f})"
        if self.num_modes is not None:
            s += f", modes {self.modes_covered}/{self.num_modes}"
        return s


def modes_covered(samples: torch.Tensor, name: str, min_share: float = 0.01,
                  radius: float = 0.3) -> tuple[int, int] | None:
    """How many mixture modes get at least ``min_share`` of the samples within ``radius``."""
    centres = toy_modes(name)
    if centres is None:
        return None
    d = torch.cdist(samples.float(), centres)
    nearest = d.argmin(dim=1)
    close = d.min(dim=1).values < radius
    counts = torch.bincount(nearest[close], minlength=len(centres))
    return int((counts >= min_share * samples.shape[0]).sum()), len(centres)


def near_mode_share(samples: torch.Tensor, name: str, radius: float | None = None) -> float:
    """Share of the samples within ``radius`` of a mixture centre (default: 3 standard
    deviations of the mixture's components). A sharp model puts ~99% there; a blurry one,
    or one that draws bridges between modes, fewer."""
    check_tensor("samples", samples, ndim=2)
    centres = toy_modes(name)
    if centres is None:
        raise ValueError(f"name must be a mixture ({', '.join(MIXTURE_STD)}), got {name!r}")
    radius = 3 * MIXTURE_STD[name] if radius is None else radius
    return float((torch.cdist(samples.float(), centres).min(dim=1).values < radius)
                 .float().mean())


def toy_quality(samples: torch.Tensor, name: str, seed: int = 0, repeats: int = 1) -> ToyQuality:
    """Compare samples with fresh data of ``name``; report the floor and mode coverage.

    The distance and the floor are both random numbers: with 2000 points their spread
    between draws of the reference set is a sizeable fraction of their value, so one draw
    can make a good sampler look *better* than data (ratio < 1). ``repeats`` > 1 averages
    both over that many reference sets (each with its own fresh set for the floor).
    """
    check_tensor("samples", samples, ndim=2)
    repeats = check_int("repeats", repeats, minimum=1)
    n = samples.shape[0]
    dist = floor = 0.0
    for r in range(repeats):
        ref = sample_toy(name, n, seed=10_000 + seed + 7919 * r)
        fresh = sample_toy(name, n, seed=20_000 + seed + 7919 * r)
        dist += sliced_wasserstein(samples, ref, seed=seed) / repeats
        floor += sliced_wasserstein(fresh, ref, seed=seed) / repeats
    cov = modes_covered(samples, name)
    return ToyQuality(dist, floor, dist / floor, *(cov if cov else (None, None)))
