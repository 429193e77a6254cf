"""Exercise 02: noise schedules. Solution (compare with diffusionlab/schedules.py)."""
import math

import torch


def linear_betas(num_timesteps: int = 1000) -> torch.Tensor:
    """beta_t = linspace(1e-4, 0.02, T)  (DDPM section 4)."""
    return torch.linspace(1e-4, 0.02, num_timesteps, dtype=torch.float64)


def cosine_betas(num_timesteps: int = 1000, s: float = 0.008, max_beta: float = 0.999
                 ) -> torch.Tensor:
    """beta_i = min(1 - f((i+1)/T) / f(i/T), max_beta), f = cos^2(((tau+s)/(1+s)) pi/2)
    (Nichol & Dhariwal 2021, eq. 17)."""
    def f(tau):
        return torch.cos((tau + s) / (1 + s) * math.pi / 2) ** 2

    i = torch.arange(num_timesteps, dtype=torch.float64)
    return torch.clamp(1.0 - f((i + 1) / num_timesteps) / f(i / num_timesteps), max=max_beta)


def snr(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """SNR(t) = abar_t / (1 - abar_t)  (Kingma et al. 2021, eq. 2)."""
    return alphas_cumprod / (1.0 - alphas_cumprod)


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Lin et al. 2023, Algorithm 1: sqrt(abar) shifted and scaled to end at exactly 0."""
    sqrt_abar = torch.cumprod(1.0 - betas, dim=0).sqrt()
    first, last = sqrt_abar[0].clone(), sqrt_abar[-1].clone()
    sqrt_abar = (sqrt_abar - last) * first / (first - last)      # shift to 0, keep the start
    abar = sqrt_abar ** 2
    alphas = torch.cat([abar[:1], abar[1:] / abar[:-1]])          # undo the cumulative product
    return 1.0 - alphas
