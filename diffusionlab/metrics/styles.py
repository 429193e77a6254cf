"""A detector for the outlined style (``data.styles``): is the drawn shape hollow?

No network: the measure reads the image directly, so it cannot be fooled by what a network
learned to expect.

    coloured   pixels whose brightest channel exceeds ``BRIGHT`` (the background is black)
    outside    the dark pixels reachable from the image border through dark pixels
               (4-connected flood fill, so a ring closed only diagonally still counts)
    holes      dark pixels that are not outside: enclosed by the shape
    hollowness h = |holes| / (|holes| + |coloured|)   (0 for a filled shape)

An image is judged *outlined* when h >= ``THRESHOLD`` (0.05: real outlined large shapes have
h around 0.35, generated ones have thicker rings and smaller holes; real plain scenes, their VAE
round trips and the shipped model's own images have h = 0 exactly); the style score of a set of
images is the fraction judged outlined. Validated in ``tests/test_styles.py`` and in lesson 12 against
real outlined scenes (score near 1), plain scenes (near 0) and both after a trip through the
VAE (what a latent model can draw at best).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._checks import check_tensor

BRIGHT = 0.4          # brightest channel, in [0, 1], above which a pixel is coloured
THRESHOLD = 0.05      # hollowness above which an image counts as outlined


def _plus_dilate(x: torch.Tensor) -> torch.Tensor:
    """4-connected dilation of a (n, 1, S, S) {0, 1} map."""
    p = F.pad(x, (1, 1, 1, 1))
    return torch.stack([x, p[..., :-2, 1:-1], p[..., 2:, 1:-1], p[..., 1:-1, :-2],
                        p[..., 1:-1, 2:]]).amax(0)


def hollowness(images: torch.Tensor, bright: float = BRIGHT) -> torch.Tensor:
    """h = holes / (holes + coloured) per image, (n, 3, S, S) in [-1, 1] -> (n,)."""
    check_tensor("images", images, ndim=4)
    if images.shape[1] != 3:
        raise ValueError(f"images must be RGB (n, 3, S, S), got shape {tuple(images.shape)}")
    coloured = ((images.amax(1, keepdim=True) + 1) / 2 > bright).float()
    dark = 1 - coloured
    border = torch.zeros_like(dark)
    border[..., 0, :] = border[..., -1, :] = border[..., :, 0] = border[..., :, -1] = 1
    outside = dark * border
    for _ in range(images.shape[-1] * images.shape[-2]):     # flood fill through dark pixels
        grown = _plus_dilate(outside) * dark
        if torch.equal(grown, outside):
            break
        outside = grown
    holes = dark - outside
    n_holes, n_col = holes.sum((1, 2, 3)), coloured.sum((1, 2, 3))
    return n_holes / (n_holes + n_col).clamp(min=1)


def is_outlined(images: torch.Tensor, threshold: float = THRESHOLD) -> torch.Tensor:
    """(n,) bool: hollowness >= ``threshold``."""
    return hollowness(images) >= threshold


def style_score(images: torch.Tensor, threshold: float = THRESHOLD) -> float:
    """The fraction of ``images`` judged outlined (1 = every image in the style)."""
    return float(is_outlined(images, threshold).float().mean())
