"""Argument checks shared by every public function.

Each check raises at once with a message that names the argument, what was
expected and what came, so a learner's mistake is explained where it happens.
"""
from __future__ import annotations

from typing import Iterable

import torch


def check_tensor(name: str, x, *, ndim: int | None = None, min_ndim: int | None = None,
                 floating: bool = True) -> torch.Tensor:
    """Require a torch.Tensor (floating point by default) with the given rank."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, "
                         f"got shape {tuple(x.shape)}")
    return x


def check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")


def check_captions(captions, n: int) -> list:
    """``captions``: one str for all ``n`` images, or a sequence of exactly ``n`` strings."""
    if isinstance(captions, str):
        return [captions] * n
    captions = list(captions)
    if len(captions) != n:
        raise ValueError(f"captions has {len(captions)} entries but images has {n}")
    return captions


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_int(name: str, value, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Require a Python int (or 0-d integer tensor) within [minimum, maximum]."""
    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_floating_point():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_number(name: str, value, *, minimum: float | None = None,
                 maximum: float | None = None) -> float:
    if isinstance(value, torch.Tensor) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if value != value:
        raise ValueError(f"{name} must not be NaN")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return float(value)


def check_timesteps(name: str, t, num_timesteps: int, batch: int | None = None) -> torch.Tensor:
    """Turn an int or an integer tensor of timesteps into a 1-D LongTensor.

    Timesteps are 0-based integers in [0, num_timesteps - 1]. A scalar is
    broadcast to ``batch`` entries when ``batch`` is given.
    """
    if isinstance(t, bool):
        raise TypeError(f"{name} must be an int or an integer tensor, got bool")
    if isinstance(t, int):
        t = torch.tensor([t])
    elif isinstance(t, torch.Tensor):
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"{name} must hold integers, got dtype {t.dtype}")
        t = t.reshape(-1) if t.ndim == 0 else t
        if t.ndim != 1:
            raise ValueError(f"{name} must be a scalar or a 1-D tensor, got shape {tuple(t.shape)}")
    else:
        raise TypeError(f"{name} must be an int or an integer tensor, got {type(t).__name__}")
    t = t.long()
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    lo, hi = int(t.min()), int(t.max())
    if lo < 0 or hi >= num_timesteps:
        raise ValueError(f"{name} must lie in [0, {num_timesteps - 1}] (0-based), "
                         f"got values from {lo} to {hi}")
    if batch is not None:
        if t.numel() == 1:
            t = t.expand(batch)
        elif t.numel() != batch:
            raise ValueError(f"{name} has {t.numel()} entries but the batch has {batch}")
    return t
