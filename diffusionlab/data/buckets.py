"""SDXL's training-data conditioning on the wider world (Podell et al. 2023, sections 2.2-2.3):
multi-aspect buckets, size conditioning and crop conditioning, each scene with the six
numbers that say what was done to it (``nn.embeddings.micro_conditioning_ids``).

A batch is one *bucket* (section 2.3): every image has the bucket's size (target_size), one
of ``BUCKETS`` = 32x32, 24x40 (landscape), 40x24 (portrait). Each scene of a batch is, at
random, one of

    native   drawn at the bucket's size:            original = target, crop = (0, 0)
    small    drawn on a smaller canvas (shortest side ``SMALL_SIDE`` px, the scene scaled
             down with it: ``object_size``) and upscaled to the bucket bilinearly, as SDXL's
             low-resolution training images were: original = the small size, crop = (0, 0)
    crop     drawn on a canvas ``CROP_MARGIN`` px larger per side and cropped to the bucket
             at a random (top, left): original = the large size, crop = (top, left). The
             caption is the large scene's: an object may be cut off or its position
             shifted, exactly the failure crop conditioning teaches the model to avoid
             (at sampling time, crop = (0, 0) asks for an uncropped-looking image).

(SDXL's section 2.2 conditions on the original size so that upscaled low-resolution
images can be kept in training without teaching the model to draw blurry ones: at sampling
time original_size = target_size asks for a sharp image.)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .._checks import check_int, check_number
from ..nn.embeddings import micro_conditioning_ids
from .scenes import make_scenes

BUCKETS = ((32, 32), (24, 40), (40, 24))           # (height, width): SDXL's aspect buckets
SMALL_SIDE = 16                                     # shortest side of a "small" original
CROP_MARGIN = 8                                     # extra pixels per side of a "crop" canvas
KINDS = ("native", "small", "crop")


@dataclass
class BucketBatch:
    """images (n, 3, H, W) in [-1, 1]; captions; time_ids (n, 6) [orig_h, orig_w, crop_top,
    crop_left, target_h, target_w]; kinds (n,) names from ``KINDS``; originals: with
    ``keep_originals``, each scene's image before resizing/cropping."""

    images: torch.Tensor
    captions: list
    time_ids: torch.Tensor
    kinds: list
    originals: list = field(default_factory=list)


def small_size(bucket) -> tuple[int, int]:
    """The "small" original of a bucket: the bucket scaled so its shortest side is
    ``SMALL_SIDE`` (e.g. 32x32 -> 16x16, 24x40 -> 16x27)."""
    h, w = bucket
    f = SMALL_SIDE / min(h, w)
    return round(h * f), round(w * f)


def make_bucket_scenes(n: int, seed: int, bucket=(32, 32), small_rate: float = 0.15,
                       crop_rate: float = 0.15, keep_originals: bool = False,
                       **scene_kwargs) -> BucketBatch:
    """``n`` scenes for one bucket (module docstring), deterministic by ``seed``;
    ``scene_kwargs`` go to ``data.scenes.make_scenes`` (words, rates, caption_style...).
    A "small" scene holds at most two objects and no word (a 16 px canvas has no room)."""
    n = check_int("n", n, minimum=1)
    seed = check_int("seed", seed)
    if (not isinstance(bucket, (tuple, list)) or len(bucket) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 16 for v in bucket)):
        raise ValueError(f"bucket must be a (height, width) pair of ints >= 16, got {bucket!r}")
    H, W = bucket
    small_rate = check_number("small_rate", small_rate, minimum=0, maximum=1)
    crop_rate = check_number("crop_rate", crop_rate, minimum=0, maximum=1)
    if small_rate + crop_rate > 1:
        raise ValueError(f"small_rate + crop_rate must be <= 1, got {small_rate + crop_rate}")
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(n, generator=gen)
    kind = torch.where(u < small_rate, 1, torch.where(u < small_rate + crop_rate, 2, 0))
    tops = torch.randint(0, CROP_MARGIN + 1, (n,), generator=gen)
    lefts = torch.randint(0, CROP_MARGIN + 1, (n,), generator=gen)
    images = torch.empty(n, 3, H, W)
    captions = [""] * n
    orig = torch.tensor([[H, W]]).repeat(n, 1)
    crop = torch.zeros(n, 2, dtype=torch.long)
    originals = [None] * n
    for k in range(3):
        idx = (kind == k).nonzero().squeeze(1)
        if not len(idx):
            continue
        sub_seed = seed * 7 + k + 1
        if k == 0:
            b = make_scenes(len(idx), seed=sub_seed, height=H, width=W, **scene_kwargs)
            images[idx], big = b.images, b.images
        elif k == 1:
            h0, w0 = small_size(bucket)
            kw = dict(scene_kwargs, word_rate=0.0,
                      num_objects=tuple(c for c in scene_kwargs.get("num_objects", (1, 2, 3))
                                        if c <= 2) or (1,))
            b = make_scenes(len(idx), seed=sub_seed, height=h0, width=w0,
                            object_size=round(32 * SMALL_SIDE / min(H, W)), **kw)
            big = b.images
            images[idx] = F.interpolate(big, size=(H, W), mode="bilinear", align_corners=False)
            orig[idx] = torch.tensor([h0, w0])
        else:
            b = make_scenes(len(idx), seed=sub_seed, height=H + CROP_MARGIN,
                            width=W + CROP_MARGIN, **scene_kwargs)
            big = b.images
            for j, i in enumerate(idx.tolist()):
                t, left = int(tops[i]), int(lefts[i])
                images[i] = big[j, :, t:t + H, left:left + W]
                crop[i] = torch.tensor([t, left])
            orig[idx] = torch.tensor([H + CROP_MARGIN, W + CROP_MARGIN])
        for j, i in enumerate(idx.tolist()):
            captions[i] = b.captions[j]
            if keep_originals:
                originals[i] = big[j]
    time_ids = micro_conditioning_ids(orig, crop, (H, W), batch_size=n)
    return BucketBatch(images=images, captions=captions, time_ids=time_ids,
                       kinds=[KINDS[int(k)] for k in kind],
                       originals=originals if keep_originals else [])


__all__ = ["BUCKETS", "BucketBatch", "CROP_MARGIN", "KINDS", "SMALL_SIDE", "make_bucket_scenes",
           "small_size"]
