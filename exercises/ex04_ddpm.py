"""Exercise 04: the reverse process, DDPM ancestral sampling.
                                            Lesson: notebooks/04_reverse_process_ddpm.ipynb

A sampler walks a decreasing list of timesteps t_0 > t_1 > ... > t_{n-1}; at each one the
network predicts the noise eps in x_t, and a step goes from x_t to x_{t_prev}, where t_prev
is the next timestep in the list, and -1 after the last one: abar_{-1} = 1 (the clean image).
The list may skip timesteps (e.g. 50 of the 1000): every formula below uses abar_t and
abar_prev, never beta_t directly, so it works for any gap.

Conventions as in ``diffusionlab.samplers`` (whose ``ddpm_step`` returns a ``StepOutput``;
here you return just the tensor x_{t_prev}). Only epsilon prediction here.

Grade it:  python -m diffusionlab grade 04      (or, in a notebook: check("04"))
"""
import torch

from diffusionlab.schedules import NoiseSchedule  # noqa: F401


def ddpm_step(schedule: NoiseSchedule, model_output: torch.Tensor, t: int, t_prev: int,
              x_t: torch.Tensor, noise: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """One ancestral step from x_t to x_{t_prev} (DDPM, Ho et al. 2020, eqs. 6, 7 and 15).

    ``model_output`` is the predicted noise eps, ``t`` and ``t_prev`` are ints (t_prev < t,
    -1 for the last step). With abar_prev = abar_{t_prev} (1 when t_prev = -1):

        x0_hat  = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)                     (eq. 15)
        alpha'  = abar_t / abar_prev,  beta' = 1 - alpha'     (one step of size t - t_prev)
        mean    = sqrt(abar_prev) beta' / (1 - abar_t) x0_hat
                  + sqrt(alpha') (1 - abar_prev) / (1 - abar_t) x_t                (eq. 7)
        var     = (1 - abar_prev) / (1 - abar_t) beta'                              (eq. 7)
        x_prev  = mean + sqrt(var) z,   z ~ N(0, I), only when t > 0; at t = 0 x_prev = mean

    ``noise`` is z; when it is None draw ``torch.randn(x_t.shape, generator=generator,
    dtype=x_t.dtype)``.

    Hint: ``abar = schedule.alphas_cumprod`` (float64, shape (T,)); turn the two scalars
    into Python floats with ``.item()`` and the arithmetic broadcasts by itself.
    At t = 0, t_prev = -1 the step returns x0_hat.
    """
    raise NotImplementedError


def ddpm_sample(model, schedule: NoiseSchedule, x_T: torch.Tensor, timesteps,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Run the reverse process from x_T (pure noise) through ``timesteps`` (decreasing ints,
    e.g. ``diffusionlab.samplers.make_timesteps(50)``) and return x_0 (DDPM Algorithm 2).

    For each timestep t (t_prev = the next one, or -1 after the last):
        eps = model(x, t_batch)  with t_batch = torch.full((B,), t, dtype=torch.long)
        x   = ddpm_step(schedule, eps, t, t_prev, x, generator=generator)

    Hint: ``for i, t in enumerate(timesteps)``; ``int(t)`` turns a tensor element into an int.
    Wrap the loop in ``with torch.no_grad():``. Do not change x_T in place.
    """
    raise NotImplementedError
