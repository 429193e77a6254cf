"""Exercise 03: epsilon / x_0 / v and the training loss.
Solution (compare with diffusionlab/parameterization.py and losses.py)."""
import torch
import torch.nn.functional as F

from diffusionlab.schedules import NoiseSchedule, extract


def x0_from_eps(schedule: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor,
                eps: torch.Tensor) -> torch.Tensor:
    """x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)  (DDPM eq. 15)."""
    abar = extract(schedule.alphas_cumprod, t, x_t)
    return (x_t - (1.0 - abar).sqrt() * eps) / abar.sqrt()


def v_target(schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor,
             eps: torch.Tensor) -> torch.Tensor:
    """v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0  (Salimans & Ho 2022)."""
    abar = extract(schedule.alphas_cumprod, t, x0)
    return abar.sqrt() * eps - (1.0 - abar).sqrt() * x0


def training_loss(model, schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor,
                  noise: torch.Tensor, prediction_type: str = "epsilon") -> torch.Tensor:
    """|| model(x_t, t) - target ||^2, averaged  (DDPM eq. 14)."""
    abar = extract(schedule.alphas_cumprod, t, x0)
    x_t = abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise             # eq. 4
    if prediction_type == "epsilon":
        target = noise
    elif prediction_type == "sample":
        target = x0
    elif prediction_type == "v_prediction":
        target = v_target(schedule, x0, t, noise)
    else:
        raise ValueError(f"prediction_type must be 'epsilon', 'sample' or 'v_prediction', "
                         f"got {prediction_type!r}")
    return F.mse_loss(model(x_t, t), target)                          # eq. 14
