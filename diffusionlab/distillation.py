"""Latent consistency distillation, the pieces (Luo et al. 2023, "Latent Consistency
Models", Algorithm 1; Song et al. 2023, "Consistency Models", section 4). Lesson 15.

A consistency function f(x_t, t) maps *every* point of one probability-flow ODE trajectory
to the trajectory's start x_0. Distillation teaches it that with pairs of neighbouring
points on the teacher's trajectory:

    x_t         = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps                  a data point, noised
    eps_hat     = eps(x_t, "") + s (eps(x_t, c) - eps(x_t, ""))             the guided teacher
    x_hat_prev  = DDIM step of eps_hat from t to t_prev                    one solver step
    target      = f_target(x_hat_prev, t_prev)      (x_hat_prev itself when t_prev = -1)
    loss        = d(f_student(x_t, t), target)       d: pseudo-Huber

so f's output must not change along the teacher's trajectory (self-consistency), and
the boundary f(x, 0) = x pins down what that constant output is: x_0. The guidance scale
s is baked in: the student learns the guided teacher's ODE with one pass per step.
"""
from __future__ import annotations

import torch

from ._checks import check_number, check_same_shape, check_tensor
from .parameterization import x0_from_eps
from .samplers import consistency_scalings
from .schedules import NoiseSchedule


def consistency_function(unet, schedule: NoiseSchedule, z: torch.Tensor, t: torch.Tensor,
                         context: torch.Tensor) -> torch.Tensor:
    """f(z_t, t) = c_skip(t) z_t + c_out(t) z0_hat(z_t, t), with z0_hat from the U-Net's eps
    (LCM eq. 9; ``t`` a (B,) LongTensor of timesteps >= 0)."""
    eps = unet(z, t, context)
    z0_hat = x0_from_eps(schedule, z, t, eps)
    c_skip, c_out = consistency_scalings(t)
    shape = (-1,) + (1,) * (z.ndim - 1)
    return c_skip.view(shape).to(z) * z + c_out.view(shape).to(z) * z0_hat


def pseudo_huber(a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
    """sqrt(||a - b||^2 + c^2) - c per sample, averaged (Song & Dhariwal 2023, section 3.3):
    quadratic for small errors, linear (robust to outliers) for large ones."""
    check_same_shape("a", a, "b", b)
    c = check_number("c", c, minimum=0.0)
    d = (a - b).flatten(1).pow(2).sum(1)
    return ((d + c * c).sqrt() - c).mean()


def guided_ddim_solver_step(schedule: NoiseSchedule, eps_uncond: torch.Tensor,
                            eps_cond: torch.Tensor, guidance_scale: float, z_t: torch.Tensor,
                            t: torch.Tensor, t_prev: torch.Tensor) -> torch.Tensor:
    """The teacher's step along its guided ODE, per sample: CFG, then DDIM (eq. 12, eta = 0)
    from t to t_prev (a (B,) LongTensor; -1 = the clean end, abar = 1):

        eps_hat = eps_uncond + s (eps_cond - eps_uncond)
        x_prev  = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev) eps_hat"""
    for name, x in (("eps_uncond", eps_uncond), ("eps_cond", eps_cond)):
        check_tensor(name, x)
        check_same_shape(name, x, "z_t", z_t)
    s = check_number("guidance_scale", guidance_scale)
    eps = eps_uncond + s * (eps_cond - eps_uncond)                        # CFG
    x0 = x0_from_eps(schedule, z_t, t, eps)
    abar = schedule.alphas_cumprod.to(z_t.dtype)
    a_prev = torch.where(t_prev >= 0, abar[t_prev.clamp(min=0)], torch.ones((), dtype=z_t.dtype))
    a_prev = a_prev.view((-1,) + (1,) * (z_t.ndim - 1))
    return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps                 # DDIM eq. 12


def consistency_target(target_fn, z_prev: torch.Tensor, t_prev: torch.Tensor) -> torch.Tensor:
    """f_target(z_prev, t_prev), and z_prev itself where t_prev = -1 (the boundary condition
    f(x, clean) = x). ``target_fn(z, t)`` is the EMA network's consistency function."""
    out = target_fn(z_prev, t_prev.clamp(min=0))
    clean = (t_prev < 0).view((-1,) + (1,) * (z_prev.ndim - 1))
    return torch.where(clean, z_prev, out)
