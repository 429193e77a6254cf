"""Duplication beyond the training size (D35-Q7): sample a text-to-image model at larger
canvases than it was trained on with one-object prompts, and count how often it draws more
than one object.

    duplication_rate(images)        share of images with more than one object (connected
                                    components, ``metrics.counting.count_objects``)
    measure_duplication(pipe, ...)  sample ``pipe`` at each size and measure, per size and
                                    per size word of the prompt ("small" / "large")

``measure_duplication`` takes any callable with the diffusers signature
``pipe(prompts, height=, width=, seed=, ...) -> output with .images`` (metrics sit below
pipelines in the layering, so it never imports one). The prompts name one object each,
with its position, as the model was trained: a canvas larger than the training size still
has a "top left", so a duplicate is never what the prompt asked for.
"""
from __future__ import annotations

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
        s = check_int("size", s, minimum=8)
        counts, found = [], []
        for i in range(0, len(prompts), batch_size):
            chunk = prompts[i:i + batch_size]
            images = pipe(chunk, height=s, width=s, seed=seed + i, progress=False,
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
    return out
