"""Exercise 04: DDPM ancestral sampling. Solution (compare with diffusionlab/samplers.py)."""
import torch

from diffusionlab.schedules import NoiseSchedule


def ddpm_step(schedule: NoiseSchedule, model_output: torch.Tensor, t: int, t_prev: int,
              x_t: torch.Tensor, noise: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """x_t -> x_{t_prev} with the posterior q(x_prev | x_t, x0_hat)  (DDPM eqs. 6-7, 15)."""
    abar = schedule.alphas_cumprod
    a_t = abar[t].item()
    a_prev = abar[t_prev].item() if t_prev >= 0 else 1.0
    x0 = (x_t - (1 - a_t) ** 0.5 * model_output) / a_t ** 0.5                # eq. 15
    alpha = a_t / a_prev                                                       # alpha' over the gap
    beta = 1 - alpha
    mean = (a_prev ** 0.5 * beta / (1 - a_t)) * x0 \
        + (alpha ** 0.5 * (1 - a_prev) / (1 - a_t)) * x_t                     # eq. 7, mu_tilde
    if t == 0:
        return mean
    if noise is None:
        noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)
    variance = (1 - a_prev) / (1 - a_t) * beta                                 # eq. 7, beta_tilde
    return mean + variance ** 0.5 * noise


def ddpm_sample(model, schedule: NoiseSchedule, x_T: torch.Tensor, timesteps,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """DDPM Algorithm 2 over the given decreasing timesteps."""
    ts = [int(t) for t in timesteps]
    x = x_T
    with torch.no_grad():
        for i, t in enumerate(ts):
            t_prev = ts[i + 1] if i + 1 < len(ts) else -1
            eps = model(x, torch.full((x.shape[0],), t, dtype=torch.long))
            x = ddpm_step(schedule, eps, t, t_prev, x, generator=generator)
    return x
