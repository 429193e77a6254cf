"""Count the objects in an image by connected components, no network needed.

A pixel is foreground when its brightest channel exceeds ``threshold`` (images
in [-1, 1] on a black background at -1). Foreground pixels that touch (8- or
4-connectivity) form one object; components smaller than ``min_area`` pixels
are specks and are ignored. Later lessons use this to measure duplication
("two heads") when a model trained at 32x32 samples at 64x64, so it works at
any image size.

Labelling is done on the whole batch at once by label propagation: every
foreground pixel starts with its own id, and each pass replaces an id by the
largest id in its neighbourhood (a 3x3 max-pool, masked to the foreground)
until nothing changes, with a pointer jump per pass (a pixel takes the label
of the pixel its label points to) so long objects need few passes. Then every
component carries the id of one of its pixels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._checks import check_choice, check_int, check_number, check_tensor


def component_labels(foreground: torch.Tensor, connectivity: int = 8) -> torch.Tensor:
    """Connected-component ids (n, H, W) of a boolean (n, H, W) mask; 0 is background.

    Ids are unique across the batch (not consecutive)."""
    check_tensor("foreground", foreground, ndim=3, floating=False)
    check_choice("connectivity", connectivity, (4, 8))
    n, h, w = foreground.shape
    fg = foreground.bool().unsqueeze(1)                               # (n, 1, H, W)
    ids = torch.arange(1, n * h * w + 1, dtype=torch.float64, device=fg.device).view(n, 1, h, w)
    labels = torch.where(fg, ids, torch.zeros_like(ids))
    while True:
        if connectivity == 8:
            spread = F.max_pool2d(labels, 3, stride=1, padding=1)        # 3x3 neighbourhood
        else:
            p = F.pad(labels, (1, 1, 1, 1))
            spread = torch.stack([labels, p[..., :-2, 1:-1], p[..., 2:, 1:-1],
                                  p[..., 1:-1, :-2], p[..., 1:-1, 2:]]).amax(0)  # plus-shaped
        new = torch.where(fg, spread, labels)
        # Pointer jumping: a label is the id of a pixel of the same component, and that
        # pixel's own label is at least as large, so take it (shortcuts long chains).
        flat = new.view(-1)
        jumped = flat[(flat.long() - 1).clamp(min=0)].view_as(new)
        new = torch.where(fg, torch.maximum(new, jumped), new)
        if torch.equal(new, labels):
            return labels.squeeze(1).long()
        labels = new


def count_objects(images: torch.Tensor, threshold: float = 0.0, min_area: int = 4,
                  connectivity: int = 8) -> torch.Tensor:
    """Number of objects per image, LongTensor (n,).

    images: (n, C, H, W) in [-1, 1] on a black background, any H and W.
    threshold: a pixel is foreground when max over channels > threshold (0.0 is
        halfway between the black background and full brightness; every colour of
        the shapes world has a channel above 0.6).
    min_area: components with fewer pixels are ignored as specks.
    """
    check_tensor("images", images, ndim=4)
    threshold = check_number("threshold", threshold)
    min_area = check_int("min_area", min_area, minimum=1)
    n, _, h, w = images.shape
    fg = images.amax(dim=1) > threshold                               # (n, H, W)
    labels = component_labels(fg, connectivity).view(-1)
    ids, areas = torch.unique(labels[labels > 0], return_counts=True)
    ids = ids[areas >= min_area]
    owner = (ids - 1) // (h * w)                                      # which image each id is in
    return torch.bincount(owner, minlength=n)
