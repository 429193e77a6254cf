"""Exercise 05: DDIM, deterministic and few-step sampling.      Lesson: notebooks/05_ddim.ipynb

DDIM (Song et al. 2021) keeps DDPM's training and changes only the sampler: each step
jumps from x_t to x_{t_prev} for ANY earlier t_prev, with an amount of fresh noise set by
eta (0: deterministic; 1: the DDPM posterior variance). Conventions as in
``diffusionlab.samplers``: 0-based timesteps, t_prev = -1 after the last step,
abar_{-1} = 1, epsilon prediction; you return just the tensor x_{t_prev}.

Grade it:  python -m diffusionlab grade 05      (or, in a notebook: check("05"))
"""
import torch

from diffusionlab.schedules import NoiseSchedule  # noqa: F401


def make_timesteps(num_inference_steps: int, num_train_timesteps: int = 1000,
                   spacing: str = "leading") -> torch.Tensor:
    """The decreasing timesteps a sampler visits, as diffusers' ``set_timesteps`` makes them
    (n = num_inference_steps, T = num_train_timesteps), as a LongTensor of length n:

        "leading":  arange(0, n) * (T // n), reversed          (DDIM paper, Stable Diffusion 1.x)
        "trailing": round(T - k * T / n) - 1, k = 0..n-1         (Lin et al. 2023, Table 2)
        "linspace": round(linspace(0, T - 1, n)), reversed

    For n = 10, T = 1000: leading [900, 800, ..., 0], trailing [999, 899, ..., 99],
    linspace [999, 888, ..., 0]. Only "trailing" and "linspace" start at T - 1, the step
    where zero-terminal-SNR schedules are pure noise.

    Hint: compute in float64 (``torch.arange(..., dtype=torch.float64)``), then ``.round()``,
    ``.flip(0)`` and ``.long()``. Raise a ValueError for an unknown spacing.
    """
    raise NotImplementedError


def ddim_step(schedule: NoiseSchedule, model_output: torch.Tensor, t: int, t_prev: int,
              x_t: torch.Tensor, eta: float = 0.0, noise: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """One DDIM step from x_t to x_{t_prev} (Song et al. 2021, eq. 12), with
    a_t = abar_t and a_prev = abar_{t_prev} (1 when t_prev = -1):

        x0_hat = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)                       ("predicted x_0")
        sigma  = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev)   (eq. 16)
        x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - sigma^2) eps + sigma z   (eq. 12)

    ``model_output`` is eps; ``noise`` is z (drawn with ``torch.randn(x_t.shape,
    generator=generator, dtype=x_t.dtype)`` when None; not needed at all when eta = 0).

    Hint: eta = 0 makes the sampler a deterministic map from x_T to x_0 (so images can be
    inverted and interpolated); with eta = 1 this step is exactly the DDPM step of exercise 04.
    """
    raise NotImplementedError
