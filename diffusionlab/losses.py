"""Training losses (D31-Q3, Q11).

The "simple" loss of DDPM (Ho et al. 2020, eq. 14) regresses the network's
output onto its target at a uniformly drawn timestep:

    L_simple = E_{t, x_0, eps} || target(x_0, eps, t) - f_theta(x_t, t) ||^2

with target = eps, x_0 or v (see ``parameterization``). It is the ELBO with
its per-timestep weights dropped.

DreamBooth's prior-preservation loss (Ruiz et al. 2023, eq. 2) adds the same
loss on images the frozen model generated for the bare class prompt:

    L = L_instance + lambda L_prior
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import check_number, check_same_shape, check_tensor
from .forward import q_sample
from .parameterization import training_target
from .schedules import NoiseSchedule


def simple_loss(model_output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error, averaged over every element (DDPM eq. 14)."""
    check_tensor("model_output", model_output)
    check_tensor("target", target)
    check_same_shape("model_output", model_output, "target", target)
    return F.mse_loss(model_output, target)


def diffusion_loss(model, schedule: NoiseSchedule, x0: torch.Tensor,
                   prediction_type: str = "epsilon", generator: torch.Generator | None = None,
                   **model_kwargs) -> torch.Tensor:
    """Draw t ~ U{0..T-1} and eps ~ N(0, I), build x_t in closed form, regress onto the target."""
    check_tensor("x0", x0, min_ndim=2)
    B = x0.shape[0]
    t = torch.randint(0, schedule.num_timesteps, (B,), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    x_t = q_sample(schedule, x0, t, noise)
    target = training_target(schedule, x0, noise, t, prediction_type)
    return simple_loss(model(x_t, t, **model_kwargs), target)


def prior_preservation_loss(instance_loss: torch.Tensor, prior_loss: torch.Tensor,
                            prior_weight: float = 1.0) -> torch.Tensor:
    """DreamBooth (Ruiz et al. 2023, eq. 2): L_instance + lambda L_prior."""
    check_tensor("instance_loss", instance_loss)
    check_tensor("prior_loss", prior_loss)
    prior_weight = check_number("prior_weight", prior_weight, minimum=0.0)
    return instance_loss + prior_weight * prior_loss
