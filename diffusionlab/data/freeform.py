"""Free-form shapes: what a control map can say and a prompt cannot (D31-Q8, D35-Q3).

The captioned shapes world (``shapes.py``) places three shapes on a 3x3 grid at two sizes,
so a prompt can name everything in it. A ControlNet is for what a prompt cannot name, so
its training scenes here vary continuously:

    outline   the three vocabulary shapes plus outlines no caption word names:
              a five-pointed star, a ring, and block letters (L, T, H, X)
    centre    anywhere the object fits (continuous, not a grid)
    radius    continuous, ``RADIUS_RANGE`` of the image side
    rotation  uniform in [0, 2 pi)
    colour    one of the five palette colours, as in the shapes world

Captions name the colour, and the shape only when the vocabulary has a word for it
("a red circle", "a blue shape", "a yellow shape" for a star); a fraction are empty, so
that classifier-free guidance still has an unconditional branch. Every scene comes with
its mask and its edge map (mask minus its 3x3 erosion), the two control signals the
shipped ControlNets are trained on.

Every outline is a polygon (or two circles, for the ring) tested per pixel, so the truth
of every image is exact, as in the shapes world.
"""
from __future__ import annotations

import math

import torch

from .._checks import check_int
from .shapes import COLORS, SHAPES, ShapesBatch, _erode

LETTERS = ("L", "T", "H", "X")
OUTLINES = SHAPES + ("star", "ring") + tuple(f"letter {c}" for c in LETTERS)
RADIUS_RANGE = (0.22, 0.36)          # of the image side S: 7 to 11.5 px at 32x32
EMPTY_CAPTION_RATE = 0.1

# Block letters as unions of rectangles (x0, y0, x1, y1) in a [-1, 1] box, y down.
_STROKE = 0.5
_LETTER_BARS = {
    "L": [(-0.7, -1, -0.7 + _STROKE, 1), (-0.7, 1 - _STROKE, 0.8, 1)],
    "T": [(-0.9, -1, 0.9, -1 + _STROKE), (-_STROKE / 2, -1, _STROKE / 2, 1)],
    "H": [(-0.85, -1, -0.85 + _STROKE, 1), (0.85 - _STROKE, -1, 0.85, 1),
          (-0.85, -_STROKE / 2, 0.85, _STROKE / 2)],
}


def _polygon_inside(x: torch.Tensor, y: torch.Tensor, vertices: list) -> torch.Tensor:
    """Even-odd rule: a point is inside if a ray to +x crosses the polygon's edges an odd
    number of times. ``x``, ``y`` broadcast against each other; ``vertices`` [(vx, vy), ...]."""
    inside = torch.zeros(torch.broadcast_shapes(x.shape, y.shape), dtype=torch.bool)
    n = len(vertices)
    for k in range(n):
        (x1, y1), (x2, y2) = vertices[k], vertices[(k + 1) % n]
        if y1 == y2:
            continue
        straddles = (y1 > y) != (y2 > y)
        x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= straddles & (x < x_cross)
    return inside


def _star(points: int = 5, inner: float = 0.45) -> list:
    """Vertices of a star of circumradius 1 pointing up (outer and inner radii alternate)."""
    return [((1.0 if k % 2 == 0 else inner) * math.sin(math.pi * k / points),
             -(1.0 if k % 2 == 0 else inner) * math.cos(math.pi * k / points))
            for k in range(2 * points)]


def _inside_unit(outline: str, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Inside test in the object's own frame: (u, v) = offset from the centre / radius."""
    if outline == "circle":
        return u ** 2 + v ** 2 <= 1.0
    if outline == "square":
        return torch.maximum(u.abs(), v.abs()) <= 0.88
    if outline == "triangle":                        # as in the shapes world, centred
        R, s3 = 1.25, math.sqrt(3) / 2
        tv = v - R / 4
        return (tv <= R / 2) & (s3 * u - 0.5 * tv <= R / 2) & (-s3 * u - 0.5 * tv <= R / 2)
    if outline == "star":
        return _polygon_inside(u, v, _star())
    if outline == "ring":
        rho2 = u ** 2 + v ** 2
        return (rho2 <= 1.0) & (rho2 >= 0.55 ** 2)
    letter = outline.split()[-1]
    if letter == "X":                                # two diagonal bars
        d = _STROKE / math.sqrt(2)
        box = torch.maximum(u.abs(), v.abs()) <= 0.85
        return box & (((u - v).abs() <= d) | ((u + v).abs() <= d))
    out = torch.zeros(torch.broadcast_shapes(u.shape, v.shape), dtype=torch.bool)
    for x0, y0, x1, y1 in _LETTER_BARS[letter]:
        out |= (u >= 0.85 * x0) & (u <= 0.85 * x1) & (v >= 0.85 * y0) & (v <= 0.85 * y1)
    return out


def draw_outlines(outlines: list, centres: torch.Tensor, radii: torch.Tensor,
                  angles: torch.Tensor, image_size: int = 32) -> torch.Tensor:
    """Boolean masks (n, S, S): outline i centred at ``centres[i]`` (pixels, (x, y)), scaled
    to ``radii[i]`` pixels and rotated by ``angles[i]`` radians (counter-clockwise)."""
    S = check_int("image_size", image_size, minimum=8)
    n = len(outlines)
    for i, o in enumerate(outlines):
        if o not in OUTLINES:
            raise ValueError(f"outlines[{i}] must be one of {', '.join(OUTLINES)}, got {o!r}")
    coords = torch.arange(S, dtype=torch.float32) + 0.5
    masks = torch.zeros(n, S, S, dtype=torch.bool)
    for name in dict.fromkeys(outlines):
        idx = torch.tensor([i for i, o in enumerate(outlines) if o == name])
        dx = coords.view(1, 1, S) - centres[idx, 0].view(-1, 1, 1)
        dy = coords.view(1, S, 1) - centres[idx, 1].view(-1, 1, 1)
        c, s = angles[idx].cos().view(-1, 1, 1), angles[idx].sin().view(-1, 1, 1)
        r = radii[idx].view(-1, 1, 1)
        u, v = (c * dx - s * dy) / r, (s * dx + c * dy) / r     # rotate back into the frame
        masks[idx] = _inside_unit(name, u, v)
    return masks


def _caption(color: str, outline: str, name_shape: bool) -> str:
    noun = outline if (outline in SHAPES and name_shape) else "shape"
    return f"a {color} {noun}"


def make_free_shapes(n: int, seed: int = 0, image_size: int = 32, outlines=OUTLINES,
                     empty_caption_rate: float = EMPTY_CAPTION_RATE) -> ShapesBatch:
    """``n`` free-form scenes (module docstring), deterministic by ``seed``.

    Returns a ``ShapesBatch`` whose ``attributes`` hold {"outline", "color", "centre",
    "radius", "angle"} and whose ``labels`` hold the colour index ({"color": (n,)}).
    """
    n = check_int("n", n, minimum=1)
    seed = check_int("seed", seed)
    S = check_int("image_size", image_size, minimum=8)
    outlines = tuple(outlines)
    for o in outlines:
        if o not in OUTLINES:
            raise ValueError(f"outlines must name outlines from {OUTLINES}, got {o!r}")
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randint(len(outlines), (n,), generator=gen)
    names = [outlines[i] for i in pick.tolist()]
    lo, hi = RADIUS_RANGE
    radii = (lo + (hi - lo) * torch.rand(n, generator=gen)) * S
    centres = radii.view(-1, 1) + torch.rand(n, 2, generator=gen) * (S - 2 * radii.view(-1, 1))
    angles = torch.rand(n, generator=gen) * 2 * math.pi
    color_idx = torch.randint(len(COLORS), (n,), generator=gen)
    name_shape = torch.rand(n, generator=gen) < 0.5
    empty = torch.rand(n, generator=gen) < empty_caption_rate

    masks = draw_outlines(names, centres, radii, angles, S).unsqueeze(1)
    palette = torch.tensor(list(COLORS.values()), dtype=torch.float32) * 2 - 1
    images = torch.where(masks, palette[color_idx].view(-1, 3, 1, 1), torch.tensor(-1.0))
    m = masks.float()
    colors = [tuple(COLORS)[i] for i in color_idx.tolist()]
    captions = ["" if bool(e) else _caption(c, o, bool(k))
                for c, o, k, e in zip(colors, names, name_shape, empty)]
    attributes = [{"outline": o, "color": c, "centre": tuple(round(v, 3) for v in ce.tolist()),
                   "radius": round(float(r), 3), "angle": round(float(a), 4)}
                  for o, c, ce, r, a in zip(names, colors, centres, radii, angles)]
    return ShapesBatch(images=images.contiguous(), captions=captions, masks=m.contiguous(),
                       edges=(m - _erode(m)).contiguous(), attributes=attributes,
                       labels={"color": color_idx})
