"""Exercise 01: the forward (noising) process. Solution (compare with diffusionlab/forward.py).

Conventions: 0-based timesteps, abar_{-1} = 1, ``t`` a LongTensor of shape (B,),
``extract(values, t, like)`` gathers values[t] as (B, 1, 1, ...).
"""
import torch

from diffusionlab.schedules import NoiseSchedule, extract


def q_step(schedule: NoiseSchedule, x_prev: torch.Tensor, t: torch.Tensor,
           noise: torch.Tensor | None = None) -> torch.Tensor:
    """x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps  (DDPM eq. 2)."""
    if noise is None:
        noise = torch.randn_like(x_prev)
    beta = extract(schedule.betas, t, x_prev)
    return (1.0 - beta).sqrt() * x_prev + beta.sqrt() * noise


def q_sample(schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor,
             noise: torch.Tensor | None = None) -> torch.Tensor:
    """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps  (DDPM eq. 4)."""
    if noise is None:
        noise = torch.randn_like(x0)
    abar = extract(schedule.alphas_cumprod, t, x0)
    return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise


def q_posterior(schedule: NoiseSchedule, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of q(x_{t-1} | x_t, x_0)  (DDPM eqs. 6-7).

    The coefficients are computed on the float64 schedule and then gathered: in float32,
    1 - abar_t near t = 0 (about 1e-4) would keep only three or four digits.
    """
    beta, abar, abar_prev = schedule.betas, schedule.alphas_cumprod, schedule.alphas_cumprod_prev
    coef_x0 = abar_prev.sqrt() * beta / (1.0 - abar)                          # eq. 7, mu_tilde
    coef_xt = (1.0 - beta).sqrt() * (1.0 - abar_prev) / (1.0 - abar)          # eq. 7, mu_tilde
    variance = (1.0 - abar_prev) / (1.0 - abar) * beta                        # eq. 7, beta_tilde
    mean = extract(coef_x0, t, x0) * x0 + extract(coef_xt, t, x0) * x_t
    return mean, extract(variance, t, x0)
