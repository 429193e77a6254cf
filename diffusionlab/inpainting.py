"""Inpainting and img2img: the equations (D31-Q13, D35-Q8). No network here; the pipelines
(``pipelines.inpaint``, ``pipelines.img2img``) wire these into the sampler.

Masks follow diffusers: (B, 1, H, W), 1 where to fill, 0 where to keep.

Method 1, replacement (training-free; the seed's "keep the known pixels fixed (add noise to
them)"; Song et al. 2021 appendix, Lugmayr et al. 2022 eq. 8). After every reverse step
from t to t_prev, the known region is overwritten by the original latents noised to t_prev:

    x_prev = m * x_prev + (1 - m) * (sqrt(abar_prev) z_0 + sqrt(1 - abar_prev) eps)    (eq. 8)

with x_prev = z_0 itself in the known region at the last step (abar_{-1} = 1). The model
never sees the mask: it only ever denoises a whole image whose known part happens to be
right, so what it draws next to the border need not agree with what is kept. RePaint's
resampling (``samplers.sample(resample=r)``) noises x_prev back to t and denoises again,
r times per step, giving the model r chances to harmonize the two.

Method 2, a mask-conditioned U-Net (SD's inpainting model, D35-Q8's "9 channels"): the
U-Net's input is widened to [z_t, m, z_masked] = 4 + 1 + 4 channels, where m is the mask on
the latent grid and z_masked the latents of the image with the hole blanked. The extra
input weights start at 0 (the model starts as the text-to-image one) and are fine-tuned
with random masks: the model *sees* what is kept and learns to continue it.

img2img (SDEdit, Meng et al. 2022): noise the image's latents to an intermediate step and
run the rest of the reverse process from there. ``strength`` in [0, 1] picks how far:

    k = min(int(n * strength), n),   start at the (n - k)-th of the n sampler timesteps

as diffusers' ``StableDiffusionImg2ImgPipeline`` does: 0 returns the input (through the VAE),
1 starts from (almost) pure noise and keeps nothing but a little low-frequency colour.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import check_int, check_number, check_tensor
from .forward import q_sample
from .schedules import NoiseSchedule


def latent_mask(mask: torch.Tensor, downscale: int) -> torch.Tensor:
    """The fill mask on the latent grid: a latent cell is filled if any of its
    ``downscale`` x ``downscale`` pixels is (max pooling), so the latent fill covers the
    whole pixel mask. (diffusers resizes with nearest-neighbour interpolation, which can
    leave a thin masked sliver of pixels inside a 'kept' latent cell.)"""
    check_tensor("mask", mask, ndim=4)
    downscale = check_int("downscale", downscale, minimum=1)
    return F.max_pool2d((mask > 0.5).to(torch.float32), downscale)


def masked_image(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The image with the hole blanked to 0 (mid grey in [-1, 1]), as SD's inpainting
    pipeline prepares it: image * (mask < 0.5)."""
    return images * (mask < 0.5).to(images.dtype)


def replace_known(x_prev: torch.Tensor, known: torch.Tensor, mask: torch.Tensor,
                  schedule: NoiseSchedule, t_prev: int, noise: torch.Tensor) -> torch.Tensor:
    """One replacement (module docstring, eq. 8): keep ``x_prev`` where ``mask`` is 1 (fill),
    put the known latents noised to ``t_prev`` where it is 0; ``t_prev = -1`` puts the
    known latents themselves."""
    if t_prev >= 0:
        t = torch.full((known.shape[0],), int(t_prev), dtype=torch.long)
        known = q_sample(schedule, known, t, noise)
    return mask * x_prev + (1.0 - mask) * known


def blend_weights(mask: torch.Tensor, pixels: int = 2) -> torch.Tensor:
    """Weights for pasting generated pixels into the original image: 1 on the mask, then
    1 - k / (pixels + 1) on the ring of pixels at (chessboard) distance k = 1..``pixels``
    from it (2/3 and 1/3 for the default), 0 beyond: pixels farther than ``pixels`` from
    the mask are the input's own, exactly."""
    check_tensor("mask", mask, ndim=4)
    pixels = check_int("pixels", pixels, minimum=0)
    grown = (mask > 0.5).to(torch.float32)
    weights = grown.clone()
    for k in range(1, pixels + 1):
        ring = F.max_pool2d(grown, 3, stride=1, padding=1) - grown     # distance exactly k
        weights = weights + ring * (1.0 - k / (pixels + 1))
        grown = grown + ring
    return weights


def composite(generated: torch.Tensor, original: torch.Tensor, mask: torch.Tensor,
              pixels: int = 2) -> torch.Tensor:
    """Generated pixels on the mask, the original beyond ``pixels`` of it, a linear blend
    between (``blend_weights``)."""
    w = blend_weights(mask, pixels).to(generated.dtype)
    return w * generated + (1.0 - w) * original


def img2img_start(num_inference_steps: int, strength: float) -> int:
    """Index of the first sampler timestep img2img runs (module docstring): n - k with
    k = min(int(n * strength), n)."""
    n = check_int("num_inference_steps", num_inference_steps, minimum=1)
    strength = check_number("strength", strength, minimum=0.0, maximum=1.0)
    return n - min(int(n * strength), n)
