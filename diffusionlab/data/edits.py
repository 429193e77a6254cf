"""Scenes for inpainting: a region to fill, and often an object to keep beside it.

Each scene has a *target* object (a shapes-world object, anywhere on the 3x3 grid) and, in
about half the scenes, a *kept* object drawn where it cannot touch the target's region. The
fill mask takes one of three forms:

    "box"     the target's bounding box grown by 1-3 pixels: fill exactly where the target
              is (adding it to an image without it, or replacing what was there)
    "cut"     a rectangle through the middle of the target (a third to two thirds of it):
              complete a partly hidden object, whose kept part the fill must continue
    "random"  a random rectangle of 8-20 pixels anywhere (what SD's inpainting model trains
              on: the caption may or may not concern it)

``image`` is the full scene (target and kept object); ``caption`` describes the target (full
or partial, as the text-to-image model was trained); ``kept_masks`` is the kept object's
mask (zeros where there is none).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .._checks import check_int
from .shapes import ATTRIBUTES, _partial_keep, caption_for, render

MASK_KINDS = ("box", "cut", "random")


@dataclass
class EditScenes:
    """images (n, 3, S, S) in [-1, 1]; masks (n, 1, S, S) 1 = fill; target_masks and
    kept_masks (n, 1, S, S); captions (n) for the target; attributes (n) of the target;
    kinds (n) the mask kind of each scene."""

    images: torch.Tensor
    masks: torch.Tensor
    target_masks: torch.Tensor
    kept_masks: torch.Tensor
    captions: list
    attributes: list
    kinds: list

    def __len__(self) -> int:
        return self.images.shape[0]


def _random_attributes(n: int, gen: torch.Generator) -> list:
    idx = {k: torch.randint(len(v), (n,), generator=gen).tolist() for k, v in ATTRIBUTES.items()}
    return [{k: ATTRIBUTES[k][idx[k][i]] for k in ATTRIBUTES} for i in range(n)]


def _bbox(mask: torch.Tensor):
    ys, xs = mask[0].nonzero(as_tuple=True)
    return int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())


def make_edit_scenes(n: int, seed: int = 0, image_size: int = 32, kinds=MASK_KINDS,
                     kept_rate: float = 0.5, caption_style: str = "mixed") -> EditScenes:
    """``n`` editing scenes (module docstring), deterministic by ``seed``. ``kinds`` picks
    the mask kinds drawn from (uniformly); ``caption_style`` "full" or "mixed"."""
    n = check_int("n", n, minimum=1)
    S = check_int("image_size", image_size, minimum=16)
    kinds = tuple(kinds)
    for k in kinds:
        if k not in MASK_KINDS:
            raise ValueError(f"kinds must be from {MASK_KINDS}, got {k!r}")
    if caption_style not in ("full", "mixed"):
        raise ValueError(f"caption_style must be 'full' or 'mixed', got {caption_style!r}")
    gen = torch.Generator().manual_seed(check_int("seed", seed))
    target_attrs, kept_attrs = _random_attributes(n, gen), _random_attributes(n, gen)
    target = render(target_attrs, S, seed=seed)
    kept = render(kept_attrs, S, seed=seed + 1)
    want_kept = (torch.rand(n, generator=gen) < kept_rate).tolist()
    kind_idx = torch.randint(len(kinds), (n,), generator=gen).tolist()
    u = torch.rand(n, 6, generator=gen).tolist()

    masks = torch.zeros(n, 1, S, S)
    for i in range(n):
        y0, y1, x0, x1 = _bbox(target.masks[i])
        kind = kinds[kind_idx[i]]
        if kind == "box":
            g = 1 + int(u[i][0] * 3)
            masks[i, 0, max(0, y0 - g):y1 + g + 1, max(0, x0 - g):x1 + g + 1] = 1
        elif kind == "cut":          # a band through the object, from one side
            frac = 1 / 3 + u[i][0] * (1 / 3)
            if u[i][1] < 0.5:
                cut = x0 + int(round((x1 - x0 + 1) * frac))
                cols = slice(cut, S) if u[i][2] < 0.5 else slice(0, cut)
                masks[i, 0, max(0, y0 - 2):y1 + 3, cols] = 1
            else:
                cut = y0 + int(round((y1 - y0 + 1) * frac))
                rows = slice(cut, S) if u[i][2] < 0.5 else slice(0, cut)
                masks[i, 0, rows, max(0, x0 - 2):x1 + 3] = 1
        else:
            h, w = 8 + int(u[i][0] * 13), 8 + int(u[i][1] * 13)
            y, x = int(u[i][2] * (S - h + 1)), int(u[i][3] * (S - w + 1))
            masks[i, 0, y:y + h, x:x + w] = 1
    # keep the second object only where it touches neither the target nor the fill region;
    # where it would, try other positions for it (a few times)
    near = F.max_pool2d(torch.maximum(masks, target.masks), 5, stride=1, padding=2)
    kept_images, kept_m = kept.images.clone(), kept.masks.clone()
    for attempt in range(8):
        clash = (near * kept_m).flatten(1).sum(1) > 0
        redo = [i for i in range(n) if want_kept[i] and bool(clash[i])]
        if not redo:
            break
        positions = torch.randint(len(ATTRIBUTES["position"]), (len(redo),), generator=gen)
        attrs = [dict(kept_attrs[i], position=ATTRIBUTES["position"][p])
                 for i, p in zip(redo, positions.tolist())]
        again = render(attrs, S, seed=seed + 2 + attempt)
        kept_images[redo], kept_m[redo] = again.images, again.masks
    clash = (near * kept_m).flatten(1).sum(1) > 0
    keep = torch.tensor(want_kept) & ~clash
    kept_masks = kept_m * keep.view(-1, 1, 1, 1)
    images = torch.where(kept_masks > 0, kept_images, target.images)
    if caption_style == "full":
        captions = list(target.captions)
    else:
        coin = (torch.rand(n, generator=gen) < 0.5).tolist()
        captions = [caption_for(a) if c else caption_for(a, _partial_keep(gen))
                    for a, c in zip(target.attributes, coin)]
    return EditScenes(images=images.contiguous(), masks=masks, target_masks=target.masks,
                      kept_masks=kept_masks.contiguous(), captions=captions,
                      attributes=target.attributes, kinds=[kinds[k] for k in kind_idx])
