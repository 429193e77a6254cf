"""How much fine detail an image holds: the share of its spectral energy at high spatial
frequencies (lesson 17: SDXL's size conditioning asks for a sharp or a blurry image).

For an image x (one channel, H x W) with its mean removed, the 2-D discrete Fourier transform
X(f_y, f_x) = sum_{y,x} x[y, x] exp(-2 pi i (f_y y + f_x x)) has its energy |X|^2 spread over
frequencies f_y, f_x in cycles per pixel (``torch.fft.fftfreq``: -0.5 to 0.5, the Nyquist
limit 0.5). With the radial frequency r = sqrt(f_y^2 + f_x^2),

    HFE(x) = sum_{r > cutoff} |X|^2  /  sum_{r > 0} |X|^2            (summed over channels)

the share of the image's variation (Parseval: sum |X|^2 = H W sum (x - mean)^2) carried by
frequencies above ``cutoff``. A blur is a low-pass filter, so it lowers HFE; so does an
image rendered small and upscaled (what SDXL's "original_size" records): an image upscaled
from s pixels holds no frequency above 0.5 s / H cycles per pixel, up to the interpolation's
leakage. A flat image (no variation) has no HFE: 0 by convention.

The share is a ratio, so it does not depend on contrast or on how many objects there are,
only on how sharp their edges are; it does depend on the canvas's content (a word of thin
strokes scores higher than a large square), so compare it between images of the same prompts.
"""
from __future__ import annotations

import torch

from .._checks import check_number, check_tensor

DEFAULT_CUTOFF = 0.25          # cycles per pixel: half of Nyquist


def radial_frequency(height: int, width: int, device=None) -> torch.Tensor:
    """(H, W) radial frequency sqrt(f_y^2 + f_x^2) in cycles per pixel of each DFT bin, in
    ``torch.fft.fft2``'s layout (DC at [0, 0])."""
    fy = torch.fft.fftfreq(height, device=device).view(-1, 1)
    fx = torch.fft.fftfreq(width, device=device).view(1, -1)
    return (fy ** 2 + fx ** 2).sqrt()


def high_frequency_energy(images: torch.Tensor, cutoff: float = DEFAULT_CUTOFF) -> torch.Tensor:
    """(B,) share of each image's spectral energy above ``cutoff`` cycles per pixel (0 to
    0.5 sqrt(2)); see the module docstring. ``images`` (B, C, H, W), any range."""
    check_tensor("images", images, ndim=4)
    cutoff = check_number("cutoff", cutoff, minimum=0.0, maximum=0.5 * 2 ** 0.5)
    x = images.double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)                       # drop DC, per channel
    power = torch.fft.fft2(x).abs().pow(2).sum(1)                      # (B, H, W), channels summed
    r = radial_frequency(x.shape[-2], x.shape[-1], device=x.device)
    total = power.sum(dim=(-2, -1))
    high = (power * (r > cutoff)).sum(dim=(-2, -1))
    share = torch.where(total > 0, high / total.clamp_min(1e-30), torch.zeros_like(total))
    return share.float()


def energy_spectrum(images: torch.Tensor, bins: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean share of spectral energy per radial-frequency band, for a figure: returns
    (band centres (bins,), shares (B, bins)), bands of equal width from 0 to 0.5 sqrt(2)
    cycles per pixel; each row sums to 1 (0 for a flat image)."""
    check_tensor("images", images, ndim=4)
    x = images.double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs().pow(2).sum(1).flatten(1)             # (B, H W)
    r = radial_frequency(x.shape[-2], x.shape[-1], device=x.device).flatten()
    top = 0.5 * 2 ** 0.5
    band = (r / top * bins).long().clamp(max=bins - 1)
    per = torch.zeros(power.shape[0], bins, dtype=power.dtype).index_add_(1, band, power)
    total = per.sum(1, keepdim=True)
    share = torch.where(total > 0, per / total.clamp_min(1e-30), torch.zeros_like(per))
    centres = (torch.arange(bins, dtype=torch.float64) + 0.5) * top / bins
    return centres.float(), share.float()
