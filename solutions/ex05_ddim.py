"""Exercise 05: DDIM. Solution (compare with diffusionlab/samplers.py)."""
import torch

from diffusionlab.schedules import NoiseSchedule


def make_timesteps(num_inference_steps: int, num_train_timesteps: int = 1000,
                   spacing: str = "leading") -> torch.Tensor:
    """Decreasing timesteps, spaced as in diffusers' ``set_timesteps``."""
    n, T = num_inference_steps, num_train_timesteps
    if spacing == "leading":
        ts = (torch.arange(0, n, dtype=torch.float64) * (T // n)).round().flip(0)
    elif spacing == "trailing":
        delta = (T - T / n) - T                  # as numpy's arange(T, 0, -T / n) steps
        ts = (T + torch.arange(n, dtype=torch.float64) * delta).round() - 1
    elif spacing == "linspace":
        ts = torch.linspace(0, T - 1, n, dtype=torch.float64).round().flip(0)
    else:
        raise ValueError(f"spacing must be 'leading', 'trailing' or 'linspace', got {spacing!r}")
    return ts.long()


def ddim_step(schedule: NoiseSchedule, model_output: torch.Tensor, t: int, t_prev: int,
              x_t: torch.Tensor, eta: float = 0.0, noise: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """x_t -> x_{t_prev}  (DDIM, Song et al. 2021, eqs. 12 and 16)."""
    abar = schedule.alphas_cumprod
    a_t = abar[t].item()
    a_prev = abar[t_prev].item() if t_prev >= 0 else 1.0
    eps = model_output
    x0 = (x_t - (1 - a_t) ** 0.5 * eps) / a_t ** 0.5                          # predicted x_0
    sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) ** 0.5      # eq. 16
    x_prev = a_prev ** 0.5 * x0 + max(1 - a_prev - sigma ** 2, 0.0) ** 0.5 * eps   # eq. 12
    if eta > 0:
        if noise is None:
            noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)
        x_prev = x_prev + sigma * noise
    return x_prev
