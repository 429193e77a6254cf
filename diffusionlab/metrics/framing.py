"""Are the objects whole in the frame? The share of objects that touch the image's border
(lesson 17: SDXL's crop conditioning; a model trained on random crops draws objects cut by
the frame unless it is told the crop started at (0, 0)).

An object is a connected component of the foreground (``metrics.scenes.find_components``:
brightest channel above ``threshold``, specks below ``min_area`` pixels ignored). It is
*cut* when its bounding box reaches the first or last row or column:

    cut share = #{objects with x0 = 0 or y0 = 0 or x1 = W or y1 = H} / #{objects}

A real scene of the wider world (``data.scenes``) places every object inside its canvas, so
its cut share is near 0 (not exactly: an object may be drawn up to the edge, most often a
large shape on the 24 px side of a landscape canvas); cropping a larger scene cuts every
object the window's edge crosses. Touching the border is the measurable proxy for "cut": a
generated object that stops exactly at the edge counts as cut too.
"""
from __future__ import annotations

import torch

from .._checks import check_int, check_number, check_tensor
from .scenes import find_components

SIDES = ("top", "left", "bottom", "right")


def border_contacts(images: torch.Tensor, threshold: float = 0.0, min_area: int = 4) -> dict:
    """Per object of the batch: which image it is in ("image", (K,)) and whether its box
    reaches each side ("top", "left", "bottom", "right": bool (K,)) or any ("cut")."""
    check_tensor("images", images, ndim=4)
    threshold = check_number("threshold", threshold)
    min_area = check_int("min_area", min_area, minimum=1)
    H, W = images.shape[-2:]
    comps = find_components(images, threshold=threshold, min_area=min_area)
    x0, y0, x1, y1 = comps.box.unbind(1)
    sides = {"top": y0 == 0, "left": x0 == 0, "bottom": y1 == H, "right": x1 == W}
    cut = sides["top"] | sides["left"] | sides["bottom"] | sides["right"]
    return {"image": comps.image, **sides, "cut": cut}


def cut_object_share(images: torch.Tensor, threshold: float = 0.0, min_area: int = 4) -> float:
    """Share of all objects in ``images`` (B, C, H, W) that touch the border (0 when there
    are no objects at all; ``framing_report`` says how many there were)."""
    cut = border_contacts(images, threshold, min_area)["cut"]
    return float(cut.float().mean()) if cut.numel() else 0.0


def framing_report(images: torch.Tensor, threshold: float = 0.0, min_area: int = 4) -> dict:
    """{"objects": count, "cut_share", "images_with_a_cut_object": share of images, and the
    share of objects touching each side ("top", "left", "bottom", "right")}."""
    c = border_contacts(images, threshold, min_area)
    n = c["cut"].numel()
    report = {"objects": n, "cut_share": float(c["cut"].float().mean()) if n else 0.0}
    per_image = torch.zeros(images.shape[0], dtype=torch.bool)
    per_image[c["image"][c["cut"]]] = True
    report["images_with_a_cut_object"] = float(per_image.float().mean())
    for side in SIDES:
        report[side] = float(c[side].float().mean()) if n else 0.0
    return report
