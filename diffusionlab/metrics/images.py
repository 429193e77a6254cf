"""Image measures the lessons use: PSNR, detail (high-pass), mask regions, object masks and
their IoU, the dominant palette colour, and the seam at a mask's border.

All images are (B, C, H, W) in [-1, 1] on the shapes world's black background (-1); masks
are (B, 1, H, W) in {0, 1}.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._checks import check_tensor


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0,
         mask: torch.Tensor | None = None) -> float:
    """Peak signal-to-noise ratio in dB over the whole set (pooled MSE):
    PSNR = 10 log10(data_range^2 / MSE); data_range = 2 for images in [-1, 1].
    With a (B, 1, H, W) ``mask``, the MSE is taken over the masked pixels only."""
    check_tensor("a", a)
    check_tensor("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    err = (a - b) ** 2
    if mask is None:
        mse = err.mean()
    else:
        check_tensor("mask", mask, ndim=4)
        mask = mask.to(err.dtype).expand_as(err)
        if mask.sum() == 0:
            raise ValueError("mask selects no pixels")
        mse = (err * mask).sum() / mask.sum()
    return float(10 * torch.log10(data_range ** 2 / mse.clamp_min(1e-12)))


def high_pass(x: torch.Tensor) -> torch.Tensor:
    """The detail of an image: x minus its 3x3 box blur, per channel (edges light up)."""
    check_tensor("x", x, ndim=4)
    C = x.shape[1]
    kernel = torch.full((C, 1, 3, 3), 1.0 / 9.0, dtype=x.dtype, device=x.device)
    return x - F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=C)


def dilate(masks: torch.Tensor, pixels: int = 1) -> torch.Tensor:
    """Binary dilation by a (2 pixels + 1)-square (max pooling)."""
    return F.max_pool2d(masks, 2 * pixels + 1, stride=1, padding=pixels)


def erode(masks: torch.Tensor, pixels: int = 1) -> torch.Tensor:
    """Binary erosion by a (2 pixels + 1)-square."""
    return -F.max_pool2d(-masks, 2 * pixels + 1, stride=1, padding=pixels)


def region_masks(masks: torch.Tensor) -> dict:
    """Edge band (dilation minus erosion of the mask), interior (erosion) and background
    (outside the dilation), each (n, 1, H, W) in {0, 1}."""
    check_tensor("masks", masks, ndim=4)
    dilated, eroded = dilate(masks), erode(masks)
    return {"edges": dilated - eroded, "interior": eroded, "background": 1.0 - dilated}


def object_mask(images: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """(B, 1, H, W) float in {0, 1}: pixels brighter than the black background in some
    channel (max over channels > ``threshold``). Every palette colour has a channel of at
    least 0.7 in [-1, 1], the background is -1: 0 splits them with a wide margin."""
    check_tensor("images", images, ndim=4)
    return (images.amax(dim=1, keepdim=True) > threshold).float()


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of two batches of binary masks, per image (B,).
    Two empty masks have IoU 1 (they agree)."""
    check_tensor("a", a, ndim=4)
    check_tensor("b", b, ndim=4)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    a, b = a > 0.5, b > 0.5
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def dominant_color(images: torch.Tensor, masks: torch.Tensor | None = None) -> list:
    """The palette colour (``data.shapes.COLORS``) nearest to the mean colour of each
    image's object pixels (``object_mask`` when ``masks`` is None); None where no pixel
    is set."""
    from ..data.shapes import COLORS

    check_tensor("images", images, ndim=4)
    masks = object_mask(images) if masks is None else masks
    palette = torch.tensor(list(COLORS.values()), dtype=images.dtype) * 2 - 1     # (5, 3)
    area = masks.flatten(1).sum(1)
    mean = (images * masks).flatten(2).sum(2) / area.clamp_min(1).unsqueeze(1)    # (B, 3)
    nearest = torch.cdist(mean, palette).argmin(1)
    names = list(COLORS)
    return [names[i] if a > 0 else None for i, a in zip(nearest.tolist(), area.tolist())]


def seam_error(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """How much an image jumps across a mask's border, per image (B,): the mean absolute
    difference (over channels) between neighbouring pixels, right and down, on the pairs
    that straddle the border (one pixel filled, one kept). A fill that continues the kept
    region jumps no more than the original image does there; a fill that ignores it (half
    an object on one side, background on the other) jumps by up to 2."""
    check_tensor("images", images, ndim=4)
    check_tensor("masks", masks, ndim=4)
    m = (masks > 0.5).float()
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean(1, keepdim=True)
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean(1, keepdim=True)
    cross_x = (m[..., :, 1:] != m[..., :, :-1]).float()
    cross_y = (m[..., 1:, :] != m[..., :-1, :]).float()
    n = cross_x.flatten(1).sum(1) + cross_y.flatten(1).sum(1)
    return ((dx * cross_x).flatten(1).sum(1) + (dy * cross_y).flatten(1).sum(1)) / n.clamp_min(1)


def border_band(masks: torch.Tensor, pixels: int = 2) -> torch.Tensor:
    """The band of ``pixels`` on either side of a mask's border (dilation minus erosion)."""
    check_tensor("masks", masks, ndim=4)
    return dilate(masks, pixels) - erode(masks, pixels)
