"""The captioned shapes world: one coloured shape per image, with its caption,
mask and edge map, generated procedurally (nothing is downloaded).

Every image is drawn from four attributes, so its truth is known exactly:

    shape     circle, square, triangle
    color     red, green, blue, yellow, purple
    size      small, large            (radius ~0.125 S vs ~0.23 S: 4 vs 7.4 px at 32x32)
    position  a 3x3 grid: top left, top, top right, left, center, right,
              bottom left, bottom, bottom right   (with a seeded jitter of about a pixel)

A full caption names all four, "a small red circle at the top left"; a partial
caption names a subset, "a circle", "a red shape", "a large square at the top".
``parse_caption`` inverts ``caption_for``, which is how the evaluator
(``diffusionlab.metrics.evaluator``) judges a generated image only on what its
prompt asked for.

Images are NCHW float32 in [-1, 1] on a black background (-1). The edge map is
the object's outline (its mask minus the mask's 3x3 erosion): a stand-in for
the Canny edges that ControlNet is usually conditioned on, exact here because
the mask is known.

Rendering is vectorized over the batch (one (n, S, S) coordinate test per
shape), so 10,000 images take about a second on one CPU core.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .._checks import check_choice, check_int

SHAPES = ("circle", "square", "triangle")
COLORS = {                      # RGB in [0, 1]; each pair differs by >= 0.4 in some channel
    "red": (0.90, 0.15, 0.15),
    "green": (0.15, 0.80, 0.20),
    "blue": (0.20, 0.35, 0.95),
    "yellow": (0.95, 0.85, 0.15),
    "purple": (0.65, 0.20, 0.85),
}
SIZES = ("small", "large")
POSITIONS = ("top left", "top", "top right", "left", "center", "right",
             "bottom left", "bottom", "bottom right")
ATTRIBUTES = {"shape": SHAPES, "color": tuple(COLORS), "size": SIZES, "position": POSITIONS}
CAPTION_STYLES = ("full", "partial", "mixed")

# Geometry, as fractions of the image side S.
_GRID = (0.29, 0.50, 0.71)          # centres of the 3x3 grid (x for columns, y for rows)
_RADIUS = {"small": 0.125, "large": 0.23}
_JITTER = 1.25                      # +- pixels of uniform jitter on the centre (at any S)
_RADIUS_JITTER = 0.06               # +- relative jitter on the size

# Words a caption may contain besides attribute values.
_FILLER = {"a", "an", "the", "at", "in", "on", "of", "shape", "object", "something"}
_POSITION_WORDS = {"top", "bottom", "left", "right", "center", "centre", "middle"}
# Every word a caption may contain: what ``parse_caption`` accepts and what the text
# encoder's tokenizer is built from (one list, so the two cannot disagree).
CAPTION_WORDS = tuple(sorted(_FILLER | _POSITION_WORDS | {
    word for values in ATTRIBUTES.values() for value in values for word in value.split()}))


@dataclass
class ShapesBatch:
    """A batch of shapes scenes (all tensors on the CPU).

    images      (n, 3, S, S) float32 in [-1, 1], black background (-1)
    captions    list of n strings
    masks       (n, 1, S, S) float32 in {0, 1}: the object's pixels
    edges       (n, 1, S, S) float32 in {0, 1}: the object's outline (mask minus its
                3x3 erosion), standing in for Canny edges
    attributes  list of n dicts {"shape", "color", "size", "position"} (the truth,
                whatever the caption names)
    labels      {attribute: LongTensor (n,)} of indices into ATTRIBUTES[attribute]
    """

    images: torch.Tensor
    captions: list
    masks: torch.Tensor
    edges: torch.Tensor
    attributes: list
    labels: dict

    def __len__(self) -> int:
        return self.images.shape[0]


# --------------------------------------------------------------------------- captions
def _position_phrase(position: str) -> str:
    return "in the center" if position == "center" else f"at the {position}"


def caption_for(attrs: dict, keep=("size", "color", "shape", "position")) -> str:
    """The caption naming the attributes in ``keep``, in the fixed order
    size, color, shape, position: "a small red circle at the top left".

    Without a shape the noun is "shape" ("a red shape", "a shape at the top");
    with nothing kept the caption is "" (the unconditional prompt).
    """
    if not isinstance(attrs, dict):
        raise TypeError(f"attrs must be a dict of attributes, got {type(attrs).__name__}")
    if isinstance(keep, str):
        keep = (keep,)
    keep = tuple(keep)
    for k in keep:
        check_choice("keep entry", k, ATTRIBUTES)
        if k not in attrs:
            raise ValueError(f"attrs has no {k!r} to keep, got keys {sorted(attrs)}")
        check_choice(f"attrs[{k!r}]", attrs[k], ATTRIBUTES[k])
    if not keep:
        return ""
    words = ["a"]
    if "size" in keep:
        words.append(attrs["size"])
    if "color" in keep:
        words.append(attrs["color"])
    words.append(attrs["shape"] if "shape" in keep else "shape")
    if "position" in keep:
        words.append(_position_phrase(attrs["position"]))
    return " ".join(words)


def parse_caption(caption: str) -> dict:
    """The attributes a caption names: the inverse of ``caption_for``.

    >>> parse_caption("a small red circle at the top left")
    {'size': 'small', 'color': 'red', 'shape': 'circle', 'position': 'top left'}
    >>> parse_caption("something red")
    {'color': 'red'}

    Case, commas and a final full stop are ignored; "centre" and "middle" mean
    "center". A word the shapes world does not know, or two values for one
    attribute ("a red blue circle"), is a ValueError naming the word.
    """
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a str, got {type(caption).__name__}")
    words = caption.lower().replace(",", " ").replace(".", " ").split()
    found: dict = {}
    vertical = horizontal = None
    center = False
    lookup = {v: k for k in ("shape", "color", "size") for v in ATTRIBUTES[k]}
    for w in words:
        if w in _FILLER:
            continue
        if w in lookup:
            key = lookup[w]
            if key in found:
                raise ValueError(f"caption {caption!r} names two {key}s: "
                                 f"{found[key]!r} and {w!r}")
            found[key] = w
        elif w in _POSITION_WORDS:
            if w in ("top", "bottom"):
                if vertical is not None:
                    raise ValueError(f"caption {caption!r} names two vertical positions "
                                     f"({vertical!r} and {w!r})")
                vertical = w
            elif w in ("left", "right"):
                if horizontal is not None:
                    raise ValueError(f"caption {caption!r} names two horizontal positions "
                                     f"({horizontal!r} and {w!r})")
                horizontal = w
            else:
                center = True
        else:
            raise ValueError(f"unknown word {w!r} in caption {caption!r}; the shapes world "
                             f"knows {', '.join(sorted(lookup))} and positions "
                             f"{', '.join(POSITIONS)}")
    if center and (vertical or horizontal):
        raise ValueError(f"caption {caption!r} names both the center and "
                         f"{' '.join(p for p in (vertical, horizontal) if p)}")
    if center:
        found["position"] = "center"
    elif vertical or horizontal:
        found["position"] = " ".join(p for p in (vertical, horizontal) if p)
    order = ("size", "color", "shape", "position")
    return {k: found[k] for k in order if k in found}


# --------------------------------------------------------------------------- rendering
def _check_image_size(image_size) -> int:
    return check_int("image_size", image_size, minimum=16)


def _labels_from_attributes(attributes) -> dict:
    if not isinstance(attributes, (list, tuple)) or len(attributes) == 0:
        raise ValueError("attributes must be a non-empty list of dicts with keys "
                         f"{', '.join(ATTRIBUTES)}")
    labels = {k: [] for k in ATTRIBUTES}
    for i, a in enumerate(attributes):
        if not isinstance(a, dict):
            raise TypeError(f"attributes[{i}] must be a dict, got {type(a).__name__}")
        for k, values in ATTRIBUTES.items():
            if k not in a:
                raise ValueError(f"attributes[{i}] has no {k!r} (keys: {sorted(a)})")
            labels[k].append(ATTRIBUTES[k].index(check_choice(f"attributes[{i}][{k!r}]",
                                                              a[k], values)))
    return {k: torch.tensor(v, dtype=torch.long) for k, v in labels.items()}


def _erode(mask: torch.Tensor) -> torch.Tensor:
    """3x3 binary erosion (a pixel survives if its whole 3x3 neighbourhood is set)."""
    return -F.max_pool2d(-mask, kernel_size=3, stride=1, padding=1)


def _inside(shape: str, dx: torch.Tensor, dy: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Which pixels (offsets dx, dy from the centre) lie inside a shape of size r."""
    if shape == "circle":
        return dx ** 2 + dy ** 2 <= r ** 2                           # |p - c| <= r
    if shape == "square":
        return torch.maximum(dx.abs(), dy.abs()) <= 0.88 * r         # max(|dx|, |dy|) <= h
    # Equilateral triangle pointing up, circumradius R = 1.25 r, its bounding box
    # centred on c (the centroid sits R/4 below the box centre). Inside means on the
    # inner side of all three edges: n_k . (p - centroid) <= R / 2 (the inradius).
    R = 1.25 * r
    ty = dy - R / 4                                                  # rows from the centroid
    s3 = math.sqrt(3) / 2
    return (ty <= R / 2) & (s3 * dx - 0.5 * ty <= R / 2) & (-s3 * dx - 0.5 * ty <= R / 2)


def _draw(labels: dict, image_size: int, generator: torch.Generator):
    """Boolean masks (n, S, S) for the given label indices; jitter drawn from ``generator``."""
    n = labels["shape"].shape[0]
    S = image_size
    grid = torch.tensor(_GRID) * S
    row, col = labels["position"] // 3, labels["position"] % 3
    jitter = (torch.rand(n, 2, generator=generator) * 2 - 1) * _JITTER
    cx = grid[col] + jitter[:, 0]
    cy = grid[row] + jitter[:, 1]
    base = torch.tensor([_RADIUS[s] for s in SIZES]) * S
    r = base[labels["size"]] * (1 + (torch.rand(n, generator=generator) * 2 - 1) * _RADIUS_JITTER)

    coords = torch.arange(S, dtype=torch.float32) + 0.5             # pixel centres
    masks = torch.zeros(n, S, S, dtype=torch.bool)
    for k, name in enumerate(SHAPES):                                # each shape on its images only
        idx = (labels["shape"] == k).nonzero().squeeze(1)
        if idx.numel():
            dx = coords.view(1, 1, S) - cx[idx].view(-1, 1, 1)       # (m, 1, S) columns
            dy = coords.view(1, S, 1) - cy[idx].view(-1, 1, 1)       # (m, S, 1) rows
            masks[idx] = _inside(name, dx, dy, r[idx].view(-1, 1, 1))
    return masks


def _assemble(labels: dict, masks: torch.Tensor, captions: list) -> ShapesBatch:
    palette = torch.tensor([COLORS[c] for c in COLORS], dtype=torch.float32) * 2 - 1
    rgb = palette[labels["color"]].view(-1, 3, 1, 1)                 # colour in [-1, 1]
    m = masks.unsqueeze(1)                                           # (n, 1, S, S) bool
    images = torch.where(m, rgb, torch.tensor(-1.0))                 # black background
    m = m.float()
    edges = m - _erode(m)                                            # outline = mask - erosion
    names = {k: [ATTRIBUTES[k][i] for i in labels[k].tolist()] for k in ATTRIBUTES}
    attributes = [dict(zip(ATTRIBUTES, values)) for values in zip(*names.values())]
    return ShapesBatch(images=images.contiguous(), captions=captions, masks=m.contiguous(),
                       edges=edges.contiguous(), attributes=attributes, labels=labels)


def render(attributes: list, image_size: int = 32, seed: int = 0) -> ShapesBatch:
    """Draw the given scenes (a list of attribute dicts), with full captions.

    The sub-pixel jitter of centre and size comes from ``seed``.
    """
    image_size = _check_image_size(image_size)
    seed = check_int("seed", seed)
    labels = _labels_from_attributes(attributes)
    gen = torch.Generator().manual_seed(seed)
    masks = _draw(labels, image_size, gen)
    batch = _assemble(labels, masks, [])
    batch.captions = [caption_for(a) for a in batch.attributes]
    return batch


def _partial_keep(generator: torch.Generator) -> tuple:
    """A random non-empty proper subset of the attributes (1 to 3 of the 4)."""
    names = tuple(ATTRIBUTES)
    k = int(torch.randint(1, len(names), (1,), generator=generator))
    chosen = set(torch.randperm(len(names), generator=generator)[:k].tolist())
    return tuple(names[i] for i in range(len(names)) if i in chosen)


def make_shapes(n: int, seed: int = 0, image_size: int = 32,
                caption_style: str = "full") -> ShapesBatch:
    """``n`` random scenes, attributes uniform and independent; deterministic by ``seed``.

    caption_style: "full" names all four attributes; "partial" names a random
    1 to 3 of them ("a red shape", "a large square"); "mixed" is full or
    partial with probability 1/2 each.
    """
    n = check_int("n", n, minimum=1)
    seed = check_int("seed", seed)
    image_size = _check_image_size(image_size)
    check_choice("caption_style", caption_style, CAPTION_STYLES)
    gen = torch.Generator().manual_seed(seed)
    labels = {k: torch.randint(len(v), (n,), generator=gen) for k, v in ATTRIBUTES.items()}
    masks = _draw(labels, image_size, gen)
    batch = _assemble(labels, masks, [])
    full = tuple(ATTRIBUTES)
    if caption_style == "full":
        keeps = [full] * n
    elif caption_style == "partial":
        keeps = [_partial_keep(gen) for _ in range(n)]
    else:
        coin = torch.rand(n, generator=gen) < 0.5
        keeps = [full if bool(c) else _partial_keep(gen) for c in coin]
    batch.captions = [caption_for(a, keep) for a, keep in zip(batch.attributes, keeps)]
    return batch


class ShapesDataset(torch.utils.data.Dataset):
    """A fixed, seeded set of ``n`` scenes for a DataLoader.

    Each item is ``dict(image, caption, mask, edge, labels)`` where ``labels``
    maps each attribute to a 0-d LongTensor.
    """

    def __init__(self, n: int, seed: int = 0, caption_style: str = "mixed",
                 image_size: int = 32):
        self.batch = make_shapes(n, seed=seed, image_size=image_size,
                                 caption_style=caption_style)

    def __len__(self) -> int:
        return len(self.batch)

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for a ShapesDataset of {len(self)}")
        b = self.batch
        return {"image": b.images[i], "caption": b.captions[i], "mask": b.masks[i],
                "edge": b.edges[i], "labels": {k: v[i] for k, v in b.labels.items()}}
