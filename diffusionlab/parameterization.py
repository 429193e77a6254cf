"""What the network predicts: epsilon, x_0 or v (D31-Q3).

Given x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (DDPM eq. 4), any one of
(x_0, eps, v) together with x_t determines the other two:

    x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)          (DDPM eq. 15)
    eps = (x_t - sqrt(abar_t) x_0) / sqrt(1 - abar_t)
    v   = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0               (Salimans & Ho 2022, sec. 4)
    x_0 = sqrt(abar_t) x_t - sqrt(1 - abar_t) v
    eps = sqrt(1 - abar_t) x_t + sqrt(abar_t) v

``prediction_type`` uses diffusers' names: "epsilon", "sample" (x_0) and
"v_prediction".
"""
from __future__ import annotations

import torch

from ._checks import check_choice, check_same_shape, check_tensor, check_timesteps
from .schedules import NoiseSchedule, extract

PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")


def _coeffs(schedule: NoiseSchedule, t, like: torch.Tensor):
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")
    t = check_timesteps("t", t, schedule.num_timesteps, batch=like.shape[0])
    abar = extract(schedule.alphas_cumprod, t, like)
    return abar.sqrt(), (1.0 - abar).sqrt()


def x0_from_eps(schedule: NoiseSchedule, x_t: torch.Tensor, t, eps: torch.Tensor) -> torch.Tensor:
    """x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)  (DDPM eq. 15)."""
    check_tensor("x_t", x_t, min_ndim=1)
    check_tensor("eps", eps)
    check_same_shape("x_t", x_t, "eps", eps)
    a, s = _coeffs(schedule, t, x_t)
    return (x_t - s * eps) / a


def eps_from_x0(schedule: NoiseSchedule, x_t: torch.Tensor, t, x0: torch.Tensor) -> torch.Tensor:
    """eps = (x_t - sqrt(abar_t) x_0) / sqrt(1 - abar_t)."""
    check_tensor("x_t", x_t, min_ndim=1)
    check_tensor("x0", x0)
    check_same_shape("x_t", x_t, "x0", x0)
    a, s = _coeffs(schedule, t, x_t)
    return (x_t - a * x0) / s


def v_from_x0_eps(schedule: NoiseSchedule, x0: torch.Tensor, t, eps: torch.Tensor) -> torch.Tensor:
    """v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0  (Salimans & Ho 2022)."""
    check_tensor("x0", x0, min_ndim=1)
    check_tensor("eps", eps)
    check_same_shape("x0", x0, "eps", eps)
    a, s = _coeffs(schedule, t, x0)
    return a * eps - s * x0


def x0_from_v(schedule: NoiseSchedule, x_t: torch.Tensor, t, v: torch.Tensor) -> torch.Tensor:
    """x_0 = sqrt(abar_t) x_t - sqrt(1 - abar_t) v."""
    check_tensor("x_t", x_t, min_ndim=1)
    check_tensor("v", v)
    check_same_shape("x_t", x_t, "v", v)
    a, s = _coeffs(schedule, t, x_t)
    return a * x_t - s * v


def eps_from_v(schedule: NoiseSchedule, x_t: torch.Tensor, t, v: torch.Tensor) -> torch.Tensor:
    """eps = sqrt(1 - abar_t) x_t + sqrt(abar_t) v."""
    check_tensor("x_t", x_t, min_ndim=1)
    check_tensor("v", v)
    check_same_shape("x_t", x_t, "v", v)
    a, s = _coeffs(schedule, t, x_t)
    return s * x_t + a * v


def training_target(schedule: NoiseSchedule, x0: torch.Tensor, noise: torch.Tensor, t,
                    prediction_type: str = "epsilon") -> torch.Tensor:
    """What the network is regressed onto for a given ``prediction_type``."""
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
    check_tensor("x0", x0, min_ndim=1)
    check_tensor("noise", noise)
    check_same_shape("x0", x0, "noise", noise)
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "sample":
        return x0
    return v_from_x0_eps(schedule, x0, t, noise)


def split_prediction(schedule: NoiseSchedule, model_output: torch.Tensor, x_t: torch.Tensor, t,
                     prediction_type: str = "epsilon") -> tuple[torch.Tensor, torch.Tensor]:
    """Turn any model output into the pair (predicted x_0, predicted eps) that samplers need."""
    check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
    check_tensor("model_output", model_output, min_ndim=1)
    check_tensor("x_t", x_t)
    check_same_shape("model_output", model_output, "x_t", x_t)
    if prediction_type == "epsilon":
        return x0_from_eps(schedule, x_t, t, model_output), model_output
    if prediction_type == "sample":
        return model_output, eps_from_x0(schedule, x_t, t, model_output)
    return x0_from_v(schedule, x_t, t, model_output), eps_from_v(schedule, x_t, t, model_output)
