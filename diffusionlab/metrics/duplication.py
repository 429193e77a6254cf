"""Duplication beyond the training size (D35-Q7): sample a text-to-image model at larger
canvases than it was trained on with one-object prompts, and count how often it draws more
than one object.

    duplication_rate(images)        share of images with more than one object (connected
                                    components, ``metrics.counting.count_objects``)
    measure_duplication(pipe, ...)  sample ``pipe`` at each size and measure, per size and
                                    per size word of the prompt ("small" / "large")
    duplicate_spacing(images)       how far apart the objects of duplicated images are (to
                                    set against the U-Net's effective receptive field)
    upscaled(pipe, 32, 32)          a fix: a pipe that samples at the native size and
                                    resizes to the size asked for

``measure_duplication`` takes any callable with the diffusers signature
``pipe(prompts, height=, width=, seed=, ...) -> output with .images`` (metrics sit below
pipelines in the layering, so it never imports one). The prompts name one object each,
with its position, as the model was trained: a canvas larger than the training size still
has a "top left", so a duplicate is never what the prompt asked for.
"""
from __future__ import annotations

from types import SimpleNamespace

import torch

from .._checks import check_int, check_tensor
from .counting import count_objects


def duplication_rate(images: torch.Tensor, min_area: int = 4, threshold: float = 0.0) -> float:
    """Share of ``images`` (n, 3, H, W) showing more than one object."""
    check_tensor("images", images, ndim=4)
    if images.shape[0] == 0:
        raise ValueError("images must hold at least one image, got an empty batch")
    counts = count_objects(images, threshold=threshold, min_area=min_area)
    return float((counts > 1).float().mean())


def one_object_prompts(n: int, seed: int = 0) -> list:
    """``n`` one-object prompts with every attribute named ("a small red circle at the top
    left"), drawn like the shapes world's captions."""
    from ..data.shapes import make_shapes

    return make_shapes(check_int("n", n, minimum=1), seed=seed).captions


def measure_duplication(pipe, prompts: list, sizes=(32, 48, 64), seed: int = 0,
                        min_area: int = 4, batch_size: int = 64, reader=None,
                        **call_kwargs) -> dict:
    """Sample one image per prompt at each square size in ``sizes`` and measure.

    Returns {size: {"duplication_rate", "empty_rate", "mean_count", "by_size_word":
    {"small": rate, "large": rate}, "counts": LongTensor (n,)}}; ``call_kwargs`` go to
    ``pipe`` (guidance_scale, num_inference_steps, ...). Every size uses the same seeds.

    Counting components undercounts one kind of duplicate: two copies drawn so close that
    they fuse into one blob (seen at 1.5x the training size) count as one object. With a
    ``reader`` (``metrics.scenes.SceneReader``) each size also gets "scene_accuracy": the
    share of images showing the prompt's object, right in every attribute, and nothing
    else, which a fused pair fails (it is misread)."""
    if not prompts:
        raise ValueError("prompts must be a non-empty list of one-object prompts")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    out = {}
    for s in sizes:
        h, w = _size_pair(s)
        counts, found = [], []
        for i in range(0, len(prompts), batch_size):
            chunk = prompts[i:i + batch_size]
            images = pipe(chunk, height=h, width=w, seed=seed + i, progress=False,
                          **call_kwargs).images.float().cpu()
            counts.append(count_objects(images, min_area=min_area))
            if reader is not None:
                found += reader.read(images)
        counts = torch.cat(counts)
        by_word = {}
        for word in ("small", "large"):
            idx = [k for k, p in enumerate(prompts) if word in p.split()]
            if idx:
                by_word[word] = round(float((counts[idx] > 1).float().mean()), 4)
        out[s] = {"duplication_rate": round(float((counts > 1).float().mean()), 4),
                  "empty_rate": round(float((counts == 0).float().mean()), 4),
                  "mean_count": round(float(counts.float().mean()), 4),
                  "by_size_word": by_word, "counts": counts}
        if reader is not None:
            from ..data.scenes import parse_scene_caption
            from .scenes import score_scenes

            scores = score_scenes([parse_scene_caption(p) for p in prompts], found)
            out[s]["scene_accuracy"] = round(scores.scene_accuracy, 4)
            out[s]["object_accuracy"] = round(scores.object_accuracy, 4)
            out[s]["attribute_accuracy"] = {a: round(v, 4) for a, v in
                                            scores.attribute_accuracy.items()}
    return out


def _size_pair(size) -> tuple:
    """(height, width) of a size given as an int (square) or a (height, width) pair."""
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise ValueError(f"size must be an int or a (height, width) pair, got {size!r}")
        return (check_int("size[0] (height)", size[0], minimum=8),
                check_int("size[1] (width)", size[1], minimum=8))
    s = check_int("size", size, minimum=8)
    return s, s


def duplicate_spacing(images: torch.Tensor, threshold: float = 0.0,
                      min_area: int = 4) -> torch.Tensor:
    """For every image with more than one object, the distance (pixels) from its largest
    object's box centre to the nearest other object's box centre: (k,) float, one per
    duplicated image (empty if none). Divided by the VAE's factor it is in latent pixels,
    comparable with the U-Net's receptive fields (``metrics.receptive_field``): copies
    drawn farther apart than the region the output effectively looks at cannot "see" each
    other."""
    from .scenes import find_components

    check_tensor("images", images, ndim=4)
    comps = find_components(images.detach().float().cpu(), threshold, min_area)
    centre = torch.stack([(comps.box[:, 0] + comps.box[:, 2]).float() / 2,
                          (comps.box[:, 1] + comps.box[:, 3]).float() / 2], 1)
    out = []
    for b in range(images.shape[0]):
        k = (comps.image == b).nonzero().squeeze(1)
        if k.numel() < 2:
            continue
        big = k[comps.area[k].argmax()]
        others = k[k != big]
        out.append(float((centre[others] - centre[big]).norm(dim=1).min()))
    return torch.tensor(out)


def upscaled(pipe, height: int = 32, width: int = 32, mode: str = "bicubic"):
    """The fix that needs no training: a pipe with ``pipe``'s call signature that samples
    at the model's native ``height`` x ``width`` and resizes (torchvision, antialiased)
    to the size it is asked for, clamped to [-1, 1]. The result has no new detail (a
    super-resolution model or an SDEdit pass at the large size would add it: SD's
    "hires fix"), but it keeps the composition the model learned."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.functional import resize

    height = check_int("height", height, minimum=8)
    width = check_int("width", width, minimum=8)
    modes = {"bicubic": InterpolationMode.BICUBIC, "bilinear": InterpolationMode.BILINEAR,
             "nearest": InterpolationMode.NEAREST}
    if mode not in modes:
        raise ValueError(f"mode must be one of {sorted(modes)}, got {mode!r}")

    def sample(prompts, height=height, width=width, **kwargs):
        out = pipe(prompts, height=sample.native[0], width=sample.native[1], **kwargs)
        big = resize(out.images.float(), [height, width], interpolation=modes[mode],
                     antialias=True).clamp(-1, 1)
        return SimpleNamespace(images=big, native=out.images)

    sample.native = (height, width)
    return sample
