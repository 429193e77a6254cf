"""A subject no caption can name: the course's "your dog" for DreamBooth and textual
inversion (D31-Q11, D35-Q4).

The shapes world (``shapes.py``) draws only whole circles, squares and triangles, so the
shipped model has never drawn anything else. The subject here is one particular object:
a green circle with a wedge cut out of its right side (``NOTCH_DEGREES`` wide, like a
pie with a slice taken). No caption word names it ("a green circle" is a whole disc), so
the base model cannot draw it whatever the prompt; it has to be taught from a few example
images, as DreamBooth (Ruiz et al. 2023) is taught a dog from 3-5 photos.

Why a notch and not, say, a two-tone circle: the shipped VAE (8x8x4 latents, trained on
one-colour scenes) cannot reconstruct a two-colour object (both halves come back one
colour), so no U-Net could ever draw one through it; an outline it can reconstruct
(it reconstructs stars, rings and letters it never saw) keeps the lesson about the U-Net
and the text encoder, not about the decoder. The lesson shows the round trip.

    subject class   "circle" (the class noun of DreamBooth's "a [V] dog"), a word of
                    ``shapes.CAPTION_WORDS``
    instance views  ``INSTANCE_VIEWS``: 4 images, all large, at 4 of the 9 positions;
                    everything else (small, and the other 5 positions) is never shown, which
                    is what recontextualization is measured on
    geometry        exactly the shapes world's circle (same grid, radii and jitter), so the
                    evaluator's size and position heads read it, and a prompt's position and
                    size words mean the same thing for the subject as for plain circles

Images are NCHW float32 in [-1, 1] on black (-1), as in the shapes world.
"""
from __future__ import annotations

import torch

import math

from .._checks import check_choice, check_int, check_number
from .shapes import COLORS, POSITIONS, SIZES, ShapesBatch, _erode, caption_for, render

SUBJECT_CLASS = "circle"
SUBJECT_COLOR = "green"
NOTCH_DEGREES = 100.0                          # the wedge cut out of the disc, facing right
# The few example images (DreamBooth uses 3-5): large, at four positions
INSTANCE_VIEWS = ({"size": "large", "position": "center"},
                  {"size": "large", "position": "top left"},
                  {"size": "large", "position": "right"},
                  {"size": "large", "position": "bottom"})
ALL_VIEWS = tuple({"size": s, "position": p} for s in SIZES for p in POSITIONS)
# Views the subject is never shown at (all small ones and the other large positions)
NOVEL_VIEWS = tuple(v for v in ALL_VIEWS if v not in INSTANCE_VIEWS)


def _check_views(views) -> list:
    if isinstance(views, dict) or not isinstance(views, (list, tuple)) or not views:
        raise TypeError("views must be a non-empty list of dicts {'size', 'position'}, "
                        f"got {type(views).__name__}")
    for i, v in enumerate(views):
        if not isinstance(v, dict) or set(v) != {"size", "position"}:
            raise ValueError(f"views[{i}] must be a dict with keys 'size' and 'position', "
                             f"got {v!r}")
        check_choice(f"views[{i}]['size']", v["size"], SIZES)
        check_choice(f"views[{i}]['position']", v["position"], POSITIONS)
    return list(views)


def subject_caption(view: dict, token: str | None = None, noun: str = SUBJECT_CLASS) -> str:
    """The prompt for the subject at ``view``: the shapes caption without a colour, with
    ``token`` before the noun ("a large sks circle in the center"), or with the noun
    replaced (``noun=token``, textual inversion's "a large S* in the center"). With
    ``token=None`` it is the class prompt ("a large circle in the center")."""
    view = _check_views([view])[0]
    caption = caption_for({**view, "shape": SUBJECT_CLASS, "color": "red"},
                          keep=("size", "shape", "position"))
    words = caption.split()
    i = words.index(SUBJECT_CLASS)
    words[i] = noun if token is None else f"{token} {noun}"
    return " ".join(words)


def render_subject(views, image_size: int = 32, seed: int = 0, color: str = SUBJECT_COLOR,
                   notch: float = NOTCH_DEGREES) -> ShapesBatch:
    """The subject at each of ``views`` (list of {"size", "position"}).

    ``color`` and ``notch`` (the wedge's full opening in degrees, 0 = a plain circle) are
    there for look-alike negatives; the defaults are the subject. The returned batch's
    captions are the class prompts ("a large circle in the center"), its attributes the
    view plus "shape": "circle" and "color", its masks the notched disc.
    """
    views = _check_views(views)
    image_size = check_int("image_size", image_size, minimum=16)
    check_choice("color", color, COLORS)
    notch = check_number("notch", notch, minimum=0.0, maximum=180.0)
    scenes = [{**v, "shape": SUBJECT_CLASS, "color": color} for v in views]
    batch = render(scenes, image_size=image_size, seed=seed)      # same geometry as the world
    disc = batch.masks                                            # (n, 1, S, S)
    coords = torch.arange(image_size, dtype=torch.float32) + 0.5
    area = disc.flatten(1).sum(1)
    cx = (disc * coords.view(1, 1, 1, -1)).flatten(1).sum(1) / area        # a disc's centroid
    cy = (disc * coords.view(1, 1, -1, 1)).flatten(1).sum(1) / area        # is its centre
    dx = coords.view(1, 1, 1, -1) - cx.view(-1, 1, 1, 1)
    dy = coords.view(1, 1, -1, 1) - cy.view(-1, 1, 1, 1)
    in_wedge = torch.atan2(dy, dx).abs() <= math.radians(notch) / 2       # pointing right
    masks = disc * (~in_wedge).float()
    rgb = torch.tensor(COLORS[color]).view(1, 3, 1, 1) * 2 - 1
    batch.images = torch.where(masks.bool(), rgb, torch.tensor(-1.0)).contiguous()
    batch.masks = masks.contiguous()
    batch.edges = (masks - _erode(masks)).contiguous()
    batch.captions = [subject_caption(v) for v in views]
    return batch


def instance_images(image_size: int = 32, seed: int = 0) -> ShapesBatch:
    """The subject's few example images (``INSTANCE_VIEWS``): all a learner is given."""
    return render_subject(list(INSTANCE_VIEWS), image_size=image_size, seed=seed)


def random_views(n: int, seed: int = 0, views=ALL_VIEWS) -> list:
    """``n`` views drawn uniformly from ``views``, deterministic by ``seed``."""
    n = check_int("n", n, minimum=1)
    views = _check_views(list(views))
    gen = torch.Generator().manual_seed(check_int("seed", seed))
    return [views[i] for i in torch.randint(len(views), (n,), generator=gen).tolist()]
