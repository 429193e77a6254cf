"""Noise schedules: how fast the forward process destroys the signal (D31-Q17).

A schedule is the list of variances beta_t, t = 0..T-1 (0-based, as in
diffusers). Everything else follows from it (DDPM, Ho et al. 2020, section 2):

    alpha_t     = 1 - beta_t
    abar_t      = prod_{s <= t} alpha_s          (``alphas_cumprod``, includes t)
    SNR(t)      = abar_t / (1 - abar_t)          (Kingma et al. 2021, eq. 2)

so that x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (DDPM eq. 4).

Names and definitions match diffusers' ``DDPMScheduler`` / ``DDIMScheduler``:

- ``linear``: betas = linspace(1e-4, 0.02, T) (DDPM section 4).
- ``scaled_linear``: betas = linspace(sqrt(0.00085), sqrt(0.012), T)^2 (Stable Diffusion).
- ``cosine``: abar(t) = cos^2(((t/T + s) / (1 + s)) pi/2), s = 0.008, betas capped
  at 0.999 (Nichol & Dhariwal 2021, eq. 17).
- ``sigmoid``: abar(t) from a sigmoid, start -3, end 3, tau 1 (Chen 2023,
  "On the importance of noise scheduling", Algorithm 1).

``zero_terminal_snr=True`` rescales any of them so that abar_{T-1} = 0, i.e.
the last step really is pure noise (Lin et al. 2023, Algorithm 1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._checks import check_choice, check_int

SCHEDULES = ("linear", "scaled_linear", "cosine", "sigmoid")


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """The betas of a schedule and the quantities derived from them (float64).

    All tensors have shape (T,) and are indexed by the 0-based timestep t.
    """

    name: str
    betas: torch.Tensor

    @property
    def num_timesteps(self) -> int:
        return self.betas.shape[0]

    @property
    def alphas(self) -> torch.Tensor:
        return 1.0 - self.betas

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        return torch.cumprod(self.alphas, dim=0)

    @property
    def alphas_cumprod_prev(self) -> torch.Tensor:
        """abar_{t-1}, with abar_{-1} = 1 (the clean image)."""
        return torch.cat([torch.ones(1, dtype=self.betas.dtype), self.alphas_cumprod[:-1]])

    @property
    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio abar / (1 - abar); infinite where abar = 1, 0 where abar = 0."""
        abar = self.alphas_cumprod
        return abar / (1.0 - abar)

    def __len__(self) -> int:
        return self.num_timesteps

    def __repr__(self) -> str:
        abar = self.alphas_cumprod
        return (f"NoiseSchedule({self.name!r}, T={self.num_timesteps}, "
                f"abar[0]={abar[0].item():.4f}, abar[T-1]={abar[-1].item():.2e})")


def _betas_from_alpha_bar(alpha_bar, num_timesteps: int, max_beta: float = 0.999) -> torch.Tensor:
    """Discretize a continuous abar(tau), tau in [0, 1]:
    beta_i = min(1 - abar((i+1)/T) / abar(i/T), max_beta)  (Nichol & Dhariwal, eq. 17 and below)."""
    i = torch.arange(num_timesteps, dtype=torch.float64)
    t1, t2 = i / num_timesteps, (i + 1) / num_timesteps
    return torch.clamp(1.0 - alpha_bar(t2) / alpha_bar(t1), max=max_beta)


def _cosine_alpha_bar(tau: torch.Tensor, s: float = 0.008) -> torch.Tensor:
    return torch.cos((tau + s) / (1 + s) * math.pi / 2) ** 2


def _sigmoid_alpha_bar(tau: torch.Tensor, start: float = -3.0, end: float = 3.0,
                       tau_temp: float = 1.0, clip_min: float = 1e-9) -> torch.Tensor:
    """Chen 2023, Algorithm 1 (sigmoid_schedule): a continuous abar(tau) in [clip_min, 1]."""
    v_start = torch.sigmoid(torch.tensor(start / tau_temp, dtype=torch.float64))
    v_end = torch.sigmoid(torch.tensor(end / tau_temp, dtype=torch.float64))
    out = torch.sigmoid((tau * (end - start) + start) / tau_temp)
    return torch.clamp((v_end - out) / (v_end - v_start), min=clip_min, max=1.0)


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Lin et al. 2023, Algorithm 1: shift and scale sqrt(abar) so that it starts
    where it did and ends at exactly 0 (SNR(T-1) = 0)."""
    sqrt_abar = torch.cumprod(1.0 - betas, dim=0).sqrt()
    first, last = sqrt_abar[0].clone(), sqrt_abar[-1].clone()
    sqrt_abar = (sqrt_abar - last) * first / (first - last)
    abar = sqrt_abar ** 2
    alphas = torch.cat([abar[:1], abar[1:] / abar[:-1]])
    return 1.0 - alphas


def make_schedule(name: str = "linear", num_timesteps: int = 1000,
                  zero_terminal_snr: bool = False) -> NoiseSchedule:
    """Build a named schedule with ``num_timesteps`` steps.

    >>> s = make_schedule("linear")
    >>> round(float(s.alphas_cumprod[-1]), 6)  # DDPM's x_T keeps a little signal
    4e-05
    """
    check_choice("name", name, SCHEDULES)
    T = check_int("num_timesteps", num_timesteps, minimum=2)
    if not isinstance(zero_terminal_snr, bool):
        raise TypeError(f"zero_terminal_snr must be a bool, got {type(zero_terminal_snr).__name__}")
    if name == "linear":
        betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    elif name == "scaled_linear":
        betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, T, dtype=torch.float64) ** 2
    elif name == "cosine":
        betas = _betas_from_alpha_bar(_cosine_alpha_bar, T)
    else:  # sigmoid
        betas = _betas_from_alpha_bar(_sigmoid_alpha_bar, T)
    if zero_terminal_snr:
        betas = rescale_zero_terminal_snr(betas)
        name = f"{name}+zero_snr"
    return NoiseSchedule(name=name, betas=betas)


def extract(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Gather ``values[t]`` and reshape to (B, 1, 1, ...) so it broadcasts against ``like``."""
    out = values.to(like.device)[t.to(like.device)].to(like.dtype)
    return out.reshape(t.shape[0], *([1] * (like.ndim - 1)))
