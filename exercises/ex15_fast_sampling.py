"""Exercise 15: fast sampling, a second-order solver and a distillation target.
Lesson: notebooks/15_distillation.ipynb

Two ways to need fewer U-Net evaluations: a better ODE solver (DPM-Solver++, no training)
and a student trained to take big steps (latent consistency distillation). Conventions as
in ``diffusionlab.samplers``: 0-based timesteps, t_prev = -1 after the last step (abar = 1,
the clean image), epsilon prediction, ``schedule.alphas_cumprod`` holds abar_t.

Grade it:  python -m diffusionlab grade 15      (or, in a notebook: check("15"))
"""
import torch

from diffusionlab.schedules import NoiseSchedule  # noqa: F401


def dpm_solver_pp_step(schedule: NoiseSchedule, model_output: torch.Tensor, t: int, t_prev: int,
                       x_t: torch.Tensor, prev_x0: torch.Tensor | None = None,
                       t_last: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One DPM-Solver++(2M) step from x_t to x_{t_prev} (Lu et al. 2022, Algorithm 2);
    returns (x_prev, x0_hat), x0_hat being this step's data prediction (the next step's
    ``prev_x0``). With alpha = sqrt(abar), sigma = sqrt(1 - abar), lambda = log(alpha / sigma):

        x0_hat = (x_t - sigma_t eps) / alpha_t                         (the data prediction)
        h      = lambda_prev - lambda_t
        D      = x0_hat                                    first step (prev_x0 is None)
        D      = (1 + 1/(2r)) x0_hat - 1/(2r) prev_x0      otherwise, r = (lambda_t - lambda_last) / h
        x_prev = (sigma_prev / sigma_t) x_t - alpha_prev (exp(-h) - 1) D          (eq. 9)

    where lambda_last is lambda at ``t_last``, the timestep ``prev_x0`` was predicted at.
    When t_prev = -1 (sigma_prev = 0, h infinite) return x_prev = x0_hat (first order at
    the final step, as diffusers' ``lower_order_final`` does).

    Hint: with D = x0_hat the update is exactly DDIM (eta = 0): check that first. Use
    ``torch.expm1(-h)`` for exp(-h) - 1. Work in the dtype of x_t.
    """
    raise NotImplementedError


def consistency_distillation_target(schedule: NoiseSchedule, eps_uncond: torch.Tensor,
                                    eps_cond: torch.Tensor, guidance_scale: float,
                                    z_t: torch.Tensor, t: torch.Tensor, t_prev: torch.Tensor,
                                    target_fn) -> torch.Tensor:
    """The target of latent consistency distillation (Luo et al. 2023, Algorithm 1) for a
    batch: ``t`` and ``t_prev`` are (B,) LongTensors (t_prev = t - k; -1 means "clean"), the
    teacher's two outputs at z_t are given, ``target_fn(z, t)`` is the target network's
    consistency function f_target:

        eps_hat = eps_uncond + s (eps_cond - eps_uncond)                  (CFG, s = guidance_scale)
        x0_hat  = (z_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t)
        z_prev  = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev) eps_hat     (DDIM, eq. 12)
        target  = f_target(z_prev, t_prev)       where t_prev >= 0
                = z_prev                         where t_prev = -1   (boundary: f(x, 0) = x)

    Hint: abar_t is per sample here, shape (B,): view it as (B, 1, 1, 1) to broadcast. Call
    ``target_fn`` with timesteps >= 0 (``t_prev.clamp(min=0)``) and pick per sample with
    ``torch.where``.
    """
    raise NotImplementedError
