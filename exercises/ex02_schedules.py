"""Exercise 02: noise schedules.                      Lesson: notebooks/02_noise_schedules.ipynb

A schedule is the list of variances beta_t, t = 0 .. T-1 (0-based). Everything else follows:

    alpha_t = 1 - beta_t,   abar_t = prod_{s <= t} alpha_s,   SNR(t) = abar_t / (1 - abar_t)

Return float64 tensors of shape (T,), as ``diffusionlab.schedules`` does (the graded tests
compare with ``make_schedule(...)``). Useful: ``torch.linspace``, ``torch.cumprod``,
``torch.clamp``, ``math.pi``.

Grade it:  python -m diffusionlab grade 02      (or, in a notebook: check("02"))
"""
import math  # noqa: F401

import torch


def linear_betas(num_timesteps: int = 1000) -> torch.Tensor:
    """DDPM's linear schedule (Ho et al. 2020, section 4):

        beta_t = linspace(1e-4, 0.02, T)[t]

    Hint: one line; ask for ``dtype=torch.float64``.
    """
    raise NotImplementedError


def cosine_betas(num_timesteps: int = 1000, s: float = 0.008, max_beta: float = 0.999
                 ) -> torch.Tensor:
    """The cosine schedule (Nichol & Dhariwal 2021, eq. 17) defines abar through a continuous

        f(tau) = cos^2( (tau + s) / (1 + s) * pi / 2 ),   tau in [0, 1]

    and the betas that follow it, one per step i = 0 .. T-1 (eq. 17 and the text below it):

        beta_i = min(1 - f((i + 1) / T) / f(i / T), max_beta)

    The cap at 0.999 stops the last step from being a division by f(1) = 0.

    Hint: ``i = torch.arange(T, dtype=torch.float64)``; write f as a small inner function.
    The product of (1 - beta) up to step i is then f((i + 1) / T) / f(0): about 0.49 at i = 500.
    """
    raise NotImplementedError


def snr(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio of x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps
    (Kingma et al. 2021, eq. 2):

        SNR(t) = abar_t / (1 - abar_t)

    Hint: one line. It decreases with t; it is 0 where abar_t = 0.
    """
    raise NotImplementedError


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Rescale a schedule so that its last step is pure noise: abar_{T-1} = 0, SNR(T-1) = 0
    (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed",
    Algorithm 1). With sqrt_abar = sqrt(cumprod(1 - betas)):

        sqrt_abar <- (sqrt_abar - sqrt_abar[-1]) * sqrt_abar[0] / (sqrt_abar[0] - sqrt_abar[-1])

    keeps the first value, makes the last one 0, and is linear in between. Then go back:
    abar = sqrt_abar^2, alpha_0 = abar_0, alpha_t = abar_t / abar_{t-1}, betas = 1 - alphas.

    Hint: ``.clone()`` the first and last values before you overwrite anything. The last
    beta comes out as exactly 1.
    """
    raise NotImplementedError
