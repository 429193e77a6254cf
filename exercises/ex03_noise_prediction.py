"""Exercise 03: what the network predicts (epsilon, x_0 or v) and the training loss.
                                                      Lesson: notebooks/03_noise_prediction.ipynb

Everything starts from the closed form of the forward process (DDPM eq. 4):

    x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps

Conventions (as in ``diffusionlab.parameterization`` and diffusers): ``t`` is a LongTensor
of shape (B,); ``schedule.alphas_cumprod`` holds abar_t; ``extract(values, t, like)``
(imported below) gathers values[t] as (B, 1, 1, ...) to broadcast against a batch.
``prediction_type`` is one of "epsilon", "sample" (x_0) or "v_prediction".

Grade it:  python -m diffusionlab grade 03      (or, in a notebook: check("03"))
"""
import torch
import torch.nn.functional as F  # noqa: F401

from diffusionlab.schedules import NoiseSchedule, extract  # noqa: F401


def x0_from_eps(schedule: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor,
                eps: torch.Tensor) -> torch.Tensor:
    """Recover x_0 from x_t and a (predicted) noise: solve eq. 4 for x_0 (DDPM eq. 15):

        x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)

    Hint: with eps exactly the noise that made x_t you get x_0 back exactly. Near t = T-1,
    sqrt(abar_t) is about 0.006, so any error in eps is multiplied by ~160: one reason why
    samplers often clip x_0.
    """
    raise NotImplementedError


def v_target(schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor,
             eps: torch.Tensor) -> torch.Tensor:
    """The "velocity" target of v-prediction (Salimans & Ho 2022, section 4):

        v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0

    Hint: at small t it is almost eps, at large t almost -x_0; for unit-variance x_0 and
    eps it has unit variance at every t (unlike eps or x_0 targets, its scale never blows up).
    """
    raise NotImplementedError


def training_loss(model, schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor,
                  noise: torch.Tensor, prediction_type: str = "epsilon") -> torch.Tensor:
    """The simple loss of DDPM (Ho et al. 2020, eq. 14), for any prediction type:

        x_t    = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise                (eq. 4)
        target = noise ("epsilon"), x_0 ("sample") or v ("v_prediction")
        loss   = mean over all elements of (model(x_t, t) - target)^2

    ``model(x_t, t)`` takes the batch and the (B,) timesteps. Return a 0-d tensor that
    gradients flow through (no ``.item()``, no ``.detach()``).

    Hint: ``F.mse_loss(prediction, target)``; reuse ``v_target``. Raise a ValueError for an
    unknown ``prediction_type``.
    """
    raise NotImplementedError
