"""The forward (noising) process and its reparameterization (D31-Q2, Q9).

Three distributions from DDPM (Ho et al. 2020), with 0-based timesteps where
x_{-1} stands for the clean image x_0 (so one step from the clean image with
t = 0 already adds noise of variance beta_0, as in diffusers):

    one Markov step     q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)       (eq. 2)
    closed form         q(x_t | x_0)     = N(sqrt(abar_t) x_0, (1 - abar_t) I)         (eq. 4)
    posterior           q(x_{t-1} | x_t, x_0) = N(mu_tilde, beta_tilde I)               (eqs. 6-7)

The closed form is the reparameterization trick: x_t = sqrt(abar_t) x_0 +
sqrt(1 - abar_t) eps with eps ~ N(0, I), one line instead of t steps.
"""
from __future__ import annotations

import torch

from ._checks import check_same_shape, check_tensor, check_timesteps
from .schedules import NoiseSchedule, extract


def _check_schedule(schedule) -> NoiseSchedule:
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a NoiseSchedule (see make_schedule), "
                        f"got {type(schedule).__name__}")
    return schedule


def _noise_like(name: str, noise, x: torch.Tensor) -> torch.Tensor:
    if noise is None:
        return torch.randn_like(x)
    check_tensor(name, noise)
    check_same_shape(name, noise, "x", x)
    return noise


def q_step(schedule: NoiseSchedule, x_prev: torch.Tensor, t, noise: torch.Tensor | None = None
           ) -> torch.Tensor:
    """One Markov step: x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps  (DDPM eq. 2)."""
    _check_schedule(schedule)
    check_tensor("x_prev", x_prev, min_ndim=1)
    t = check_timesteps("t", t, schedule.num_timesteps, batch=x_prev.shape[0])
    noise = _noise_like("noise", noise, x_prev)
    beta = extract(schedule.betas, t, x_prev)
    return (1.0 - beta).sqrt() * x_prev + beta.sqrt() * noise


def q_sample(schedule: NoiseSchedule, x0: torch.Tensor, t, noise: torch.Tensor | None = None
             ) -> torch.Tensor:
    """Closed form: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps  (DDPM eq. 4)."""
    _check_schedule(schedule)
    check_tensor("x0", x0, min_ndim=1)
    t = check_timesteps("t", t, schedule.num_timesteps, batch=x0.shape[0])
    noise = _noise_like("noise", noise, x0)
    abar = extract(schedule.alphas_cumprod, t, x0)
    return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise


def q_posterior(schedule: NoiseSchedule, x0: torch.Tensor, x_t: torch.Tensor, t
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of q(x_{t-1} | x_t, x_0)  (DDPM eqs. 6-7).

        mu_tilde   = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x_0
                     + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t
        beta_tilde = (1 - abar_{t-1}) / (1 - abar_t) beta_t

    with abar_{-1} = 1, so at t = 0 the posterior is the point x_0 (variance 0).
    The variance is returned with shape (B, 1, ...), broadcastable against x_t.
    """
    _check_schedule(schedule)
    check_tensor("x0", x0, min_ndim=1)
    check_tensor("x_t", x_t, min_ndim=1)
    check_same_shape("x0", x0, "x_t", x_t)
    t = check_timesteps("t", t, schedule.num_timesteps, batch=x0.shape[0])
    # coefficients in float64 (the schedule's precision), then cast: at t = 0 they are exactly 1 and 0
    beta, abar, abar_prev = schedule.betas, schedule.alphas_cumprod, schedule.alphas_cumprod_prev
    coef_x0 = abar_prev.sqrt() * beta / (1.0 - abar)
    coef_xt = (1.0 - beta).sqrt() * (1.0 - abar_prev) / (1.0 - abar)
    variance = (1.0 - abar_prev) / (1.0 - abar) * beta
    mean = extract(coef_x0, t, x0) * x0 + extract(coef_xt, t, x0) * x_t
    return mean, extract(variance, t, x0)


def q_chain(schedule: NoiseSchedule, x0: torch.Tensor, t: int,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Reach x_t by iterating ``q_step`` t + 1 times from x_0 (the slow way, for comparison)."""
    _check_schedule(schedule)
    check_tensor("x0", x0, min_ndim=1)
    t = int(check_timesteps("t", t, schedule.num_timesteps)[0])
    x = x0
    for s in range(t + 1):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = q_step(schedule, x, s, noise)
    return x
