"""Exercise 15: fast sampling. Solution (compare with diffusionlab/samplers.py,
``dpm_solver_pp_step``, and diffusionlab/distillation.py)."""
import torch

from diffusionlab.schedules import NoiseSchedule


def dpm_solver_pp_step(schedule: NoiseSchedule, model_output: torch.Tensor, t: int, t_prev: int,
                       x_t: torch.Tensor, prev_x0: torch.Tensor | None = None,
                       t_last: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One DPM-Solver++(2M) step; returns (x_prev, x0_hat)."""
    abar = schedule.alphas_cumprod.to(x_t.dtype)

    def alpha_sigma_lambda(step):
        a = abar[step]
        alpha, sigma = a.sqrt(), (1 - a).sqrt()
        return alpha, sigma, torch.log(alpha / sigma)

    alpha_t, sigma_t, lam_t = alpha_sigma_lambda(t)
    x0 = (x_t - sigma_t * model_output) / alpha_t
    if t_prev < 0:
        return x0, x0
    alpha_p, sigma_p, lam_p = alpha_sigma_lambda(t_prev)
    h = lam_p - lam_t
    D = x0
    if prev_x0 is not None:
        _, _, lam_last = alpha_sigma_lambda(t_last)
        r = (lam_t - lam_last) / h
        D = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * prev_x0
    x_prev = sigma_p / sigma_t * x_t - alpha_p * torch.expm1(-h) * D
    return x_prev, x0


def consistency_distillation_target(schedule: NoiseSchedule, eps_uncond: torch.Tensor,
                                    eps_cond: torch.Tensor, guidance_scale: float,
                                    z_t: torch.Tensor, t: torch.Tensor, t_prev: torch.Tensor,
                                    target_fn) -> torch.Tensor:
    """The LCD target f_target(DDIM step of the guided teacher), z_prev at the clean end."""
    abar = schedule.alphas_cumprod.to(z_t.dtype)
    eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
    a_t = abar[t].view(-1, 1, 1, 1)
    x0 = (z_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()
    a_prev = torch.where(t_prev >= 0, abar[t_prev.clamp(min=0)], torch.ones((), dtype=z_t.dtype))
    a_prev = a_prev.view(-1, 1, 1, 1)
    z_prev = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    out = target_fn(z_prev, t_prev.clamp(min=0))
    return torch.where((t_prev < 0).view(-1, 1, 1, 1), z_prev, out)
