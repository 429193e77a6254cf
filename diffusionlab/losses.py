"""Training losses (D31-Q3, Q11).

The "simple" loss of DDPM (Ho et al. 2020, eq. 14) regresses the network's
output onto its target at a uniformly drawn timestep:

    L_simple = E_{t, x_0, eps} || target(x_0, eps, t) - f_theta(x_t, t) ||^2

with target = eps, x_0 or v (see ``parameterization``). It is the ELBO with
its per-timestep weights dropped.

DreamBooth's prior-preservation loss (Ruiz et al. 2023, eq. 2) adds the same
loss on images the frozen model generated for the bare class prompt:

    L = L_instance + lambda L_prior

In practice (diffusers' ``train_dreambooth.py``) the instance and class examples go
through the U-Net as one concatenated batch and the output is split back in two
(``dreambooth_batch_loss``); ``dreambooth_loss`` does the whole step.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import check_int, check_number, check_same_shape, check_tensor
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
                   t_max: int | None = None, **model_kwargs) -> torch.Tensor:
    """Draw t ~ U{0..T-1} and eps ~ N(0, I), build x_t in closed form, regress onto the target.
    ``t_max``: draw t ~ U{0..t_max-1} instead (SDXL's refiner: the low-noise timesteps only)."""
    check_tensor("x0", x0, min_ndim=2)
    B = x0.shape[0]
    T = schedule.num_timesteps
    if t_max is not None:
        T = check_int("t_max", t_max, minimum=1, maximum=schedule.num_timesteps)
    t = torch.randint(0, T, (B,), generator=generator).to(x0.device)
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


def dreambooth_batch_loss(model_output: torch.Tensor, target: torch.Tensor, num_instance: int,
                          prior_weight: float = 1.0) -> torch.Tensor:
    """Ruiz et al. 2023, eq. 2 on one concatenated batch: rows ``[:num_instance]`` are the
    subject's images (instance prompt "a [V] circle"), the rest are class images the frozen
    model generated for the class prompt ("a circle"):

        L = mean_inst || eps - eps_theta ||^2 + lambda mean_class || eps - eps_theta ||^2

    Each part is averaged over its own rows, so lambda weighs the two losses whatever the
    batch split. With no class rows (``num_instance`` = batch) it is the instance loss
    alone: DreamBooth without prior preservation.
    """
    check_tensor("model_output", model_output, min_ndim=1)
    check_tensor("target", target, min_ndim=1)
    check_same_shape("model_output", model_output, "target", target)
    B = model_output.shape[0]
    if isinstance(num_instance, bool) or not isinstance(num_instance, int) or not 1 <= num_instance <= B:
        raise ValueError(f"num_instance must be an int from 1 to the batch size {B}, "
                         f"got {num_instance!r}")
    prior_weight = check_number("prior_weight", prior_weight, minimum=0.0)
    instance = F.mse_loss(model_output[:num_instance], target[:num_instance])
    if num_instance == B:
        return instance
    prior = F.mse_loss(model_output[num_instance:], target[num_instance:])
    return prior_preservation_loss(instance, prior, prior_weight)                # eq. 2


def dreambooth_loss(model, schedule: NoiseSchedule, instance_x0: torch.Tensor,
                    instance_context: torch.Tensor, class_x0: torch.Tensor | None = None,
                    class_context: torch.Tensor | None = None, prior_weight: float = 1.0,
                    prediction_type: str = "epsilon",
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """One DreamBooth step's loss: instance and class latents (with their prompts' token
    states) noised at independent t ~ U{0..T-1}, one U-Net pass over the concatenated
    batch, ``dreambooth_batch_loss``. Without ``class_x0`` it is plain fine-tuning on the
    instance images."""
    check_tensor("instance_x0", instance_x0, min_ndim=2)
    x0, context = instance_x0, instance_context
    if class_x0 is not None:
        if class_context is None:
            raise ValueError("class_context is required with class_x0 (the class prompt's "
                             "token states)")
        x0 = torch.cat([instance_x0, class_x0])
        context = torch.cat([instance_context, class_context])
    B = x0.shape[0]
    t = torch.randint(0, schedule.num_timesteps, (B,), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    x_t = q_sample(schedule, x0, t, noise)
    target = training_target(schedule, x0, noise, t, prediction_type)
    return dreambooth_batch_loss(model(x_t, t, context), target, instance_x0.shape[0],
                                 prior_weight)
