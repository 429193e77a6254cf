"""Exercise 14: inpainting by replacement, and img2img's start.    Lesson: notebooks/14_inpainting.ipynb

Inpainting without training (the seed's "keep the known pixels fixed (add noise to them)"):
after every reverse step from t to t_prev, overwrite the region to keep with the original
latents *noised to t_prev*, so the whole image always looks like one noise level. img2img
(SDEdit) starts the reverse process part-way, from the input's latents noised to the step
that ``strength`` picks. Conventions as in ``diffusionlab.inpainting`` and diffusers:

- masks are (B, 1, h, w) on the latent grid: 1 where to fill, 0 where to keep;
- ``t_prev = -1`` means "the clean image" (abar = 1), as in the samplers;
- ``schedule.alphas_cumprod[t]`` is abar_t.

Reference: diffusionlab/inpainting.py (replace_known, img2img_start).
"""
import torch


def replace_known(x_prev: torch.Tensor, known: torch.Tensor, mask: torch.Tensor, schedule,
                  t_prev: int, noise: torch.Tensor) -> torch.Tensor:
    """One replacement step (Lugmayr et al. 2022, RePaint, eq. 8):

        known_t = sqrt(abar_{t_prev}) known + sqrt(1 - abar_{t_prev}) noise    (known_t = known
                                                                               when t_prev = -1)
        return  mask * x_prev + (1 - mask) * known_t

    x_prev: the sampler's result (B, C, h, w); known: the original latents z_0; noise: fresh
    Gaussian noise of the same shape.

    Hint: careful with t_prev = -1: ``alphas_cumprod[-1]`` is the LAST entry (almost pure
    noise), not "clean". Keep the dtype of ``x_prev``.
    """
    if t_prev >= 0:
        abar = schedule.alphas_cumprod[t_prev].to(x_prev.dtype)
        known = abar.sqrt() * known + (1 - abar).sqrt() * noise
    return mask * x_prev + (1 - mask) * known


def img2img_start(num_inference_steps: int, strength: float) -> int:
    """The index of the first of the ``num_inference_steps`` sampler timesteps that img2img
    runs, as diffusers' img2img pipeline computes it:

        k = min(int(n * strength), n)        steps actually run (int() rounds down)
        start = n - k

    strength 0 runs nothing (start = n), strength 1 runs every step (start = 0). A strength
    outside [0, 1] is a ValueError naming ``strength``.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    return num_inference_steps - min(int(num_inference_steps * strength), num_inference_steps)
