"""Exercise 01: the forward (noising) process.        Lesson: notebooks/01_forward_process.ipynb

Implement the three distributions of the forward process (DDPM, Ho et al. 2020).
Conventions (the same as ``diffusionlab.forward`` and diffusers):

- timesteps are 0-based: t = 0 .. T-1, and abar_{-1} = 1 (the clean image);
- ``schedule`` is a ``diffusionlab.schedules.NoiseSchedule``: it gives you
  ``schedule.betas``, ``schedule.alphas`` (= 1 - betas) and ``schedule.alphas_cumprod``
  (abar_t = prod_{s <= t} alpha_s), each a float64 tensor of shape (T,);
- ``t`` is a LongTensor of shape (B,), one timestep per batch element;
- ``x`` tensors have shape (B, ...), e.g. (B, C, H, W).

Useful: ``extract(values, t, like)`` (imported below) gathers ``values[t]`` and reshapes it
to (B, 1, 1, ...) in ``like``'s dtype, so it broadcasts against a batch of images.

Grade it:  python -m diffusionlab grade 01      (or, in a notebook: check("01"))
"""
import torch

from diffusionlab.schedules import NoiseSchedule, extract  # noqa: F401


def q_step(schedule: NoiseSchedule, x_prev: torch.Tensor, t: torch.Tensor,
           noise: torch.Tensor | None = None) -> torch.Tensor:
    """One Markov step of the forward process (DDPM eq. 2):

        q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)
        x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps,    eps ~ N(0, I)

    ``noise`` is eps; when it is None draw it with ``torch.randn_like(x_prev)``.

    Hint: ``beta = extract(schedule.betas, t, x_prev)`` has shape (B, 1, 1, ...).
    """
    raise NotImplementedError


def q_sample(schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor,
             noise: torch.Tensor | None = None) -> torch.Tensor:
    """Jump straight from x_0 to x_t: the closed form / reparameterization trick (DDPM eq. 4):

        q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)
        x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,        eps ~ N(0, I)

    ``noise`` is eps; when it is None draw it with ``torch.randn_like(x0)``.

    Hint: the same as ``q_step`` with abar_t (``schedule.alphas_cumprod``) in place of
    1 - beta_t. Calling ``q_step`` t + 1 times gives the same distribution, t times slower.
    """
    raise NotImplementedError


def q_posterior(schedule: NoiseSchedule, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of the posterior q(x_{t-1} | x_t, x_0) = N(mu_tilde, beta_tilde I)
    (DDPM eqs. 6-7):

        mu_tilde   = sqrt(abar_{t-1}) beta_t / (1 - abar_t) * x_0
                     + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) * x_t
        beta_tilde = (1 - abar_{t-1}) / (1 - abar_t) * beta_t

    with abar_{-1} = 1, so at t = 0 the posterior is the point x_0 (variance 0).
    Return ``(mean, variance)``: mean with the shape of x_t, variance of shape (B, 1, 1, ...).

    Hint: ``schedule.alphas_cumprod_prev`` is abar_{t-1} with the 1 already in front.
    Compute the coefficients on the float64 schedule tensors first and ``extract`` them
    afterwards: in float32, 1 - abar_t near t = 0 (about 1e-4) keeps only 3-4 digits.
    """
    raise NotImplementedError
