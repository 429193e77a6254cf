"""The wider world: scenes of one to three non-overlapping objects, on canvases of several
sizes and aspect ratios, with captions that say so (groundwork for lessons 16 and 17:
binding, counting, duplication, spelling, SDXL's size/crop/aspect conditioning).

    "a red circle at the left and a small blue square at the top right"
    "three yellow triangles"
    "the letter A in green"
    "the word CAT in blue at the bottom"

An object is a shape of the shapes world (``data.shapes``: circle, square, triangle) or a
glyph (``data.glyphs``: a capital letter, or a word made of several). Each has a colour (the
shapes world's palette), a size (small, large) and a position (a cell of the 3x3 grid,
named as in the shapes world). A *counted group* is two or three identical shapes in
different cells, captioned by number instead of position ("three yellow triangles").

Canvases are (height, width): ``CANVASES`` = 32x32 (the shapes world's size), 24x40
(landscape), 40x24 (portrait), and 48x48, 64x64 for the size experiments; any size of at
least 16 pixels per side works.

Design decisions:

* **Objects keep their pixel size on every canvas.** A small circle has radius 4 px and a
  large one 7.4 px whatever the canvas (the shapes world's sizes at 32x32; ``object_size``
  scales them). So a bigger canvas holds the same objects with more room, which is what a
  duplication experiment needs, and the scene reader can judge each object with the shipped
  32x32 evaluator on a 32x32 crop at its native scale.
* **Position is geometry.** An object's position is the grid cell nearest to the centre of
  its bounding box, per axis: columns split at 0.395 and 0.605 of the width (midway between
  the shapes world's grid lines 0.29, 0.50, 0.71), rows likewise. Objects are placed so
  that this reading gives their named position (their centre is clamped inside the cell's
  band, 1 px from its edges, and the object inside the canvas), and the reader uses the
  same rule. A large shape (up to 15.6 px across) fits the left or right column of a
  24 px wide canvas only just; a large word fits only canvases wide enough for it.
* **Objects never touch.** Every pair is at least ``CLEARANCE`` = 3 empty pixels apart
  (Chebyshev distance), so connected components split a real scene into its objects, and
  the letters of a word (1 or 2 px apart: one font cell) are closer than any two objects.
  Scenes whose objects would come closer are redrawn (new cells and jitter, same objects).
* **Every object in a scene has its own cell**, also in counted groups (their cells are
  just not named), so no two objects of a scene share a position.
* Rendering is vectorized: shapes through ``data.shapes``'s inside tests, glyphs through
  ``data.glyphs.draw_text``, all objects of a batch at once; placement is vectorized over
  scenes (one pass per object slot).

The caption grammar (``scene_caption`` writes it, ``parse_scene_caption`` reads it back;
the round trip is tested on thousands of captions). A caption is one to three phrases,
joined "X", "X and Y", "X, Y and Z":

    shape    a [size] [color] {circle|square|triangle} [at the <position> | in the center]
    group    {two|three} [size] [color] {circles|squares|triangles}
    letter   the [size] letter <A-Z> [in <color>] [at the <position> | in the center]
    word     the [size] word <TEXT> [in <color>] [at the <position> | in the center]

``SCENE_WORDS`` lists every word a caption may hold except the text of a word object:
the shapes world's words, "and", "two", "three", the plurals, "letter", "word", and the
26 letters (lowercase, as the word-level tokenizer lowercases). A word like "CAT" is *not*
in it: with a word-level tokenizer it is ``<unk>`` unless added, which is the point of the
spelling experiment (``data.glyphs.TRAIN_WORDS`` and ``HELD_OUT_WORDS``). Build a scenes
tokenizer with ``nn.text.build_tokenizer(SCENE_WORDS, max_length=MAX_CAPTION_WORDS + 2)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .._checks import check_choice, check_int, check_number
from . import glyphs as _glyphs
from .glyphs import GLYPH_CELLS, LETTERS, check_word, draw_text
from .shapes import (_GRID, _JITTER, _RADIUS, _RADIUS_JITTER, CAPTION_WORDS, COLORS, POSITIONS,
                     SHAPES, SIZES, _erode, _inside, _position_phrase, parse_caption)

CANVASES = ((32, 32), (24, 40), (40, 24), (48, 48), (64, 64))     # (height, width)
KINDS = ("shape", "letter", "word")
MAX_OBJECTS = 3
CLEARANCE = 3                        # empty pixels between any two objects of a scene
COUNT_WORDS = {2: "two", 3: "three"}
PLURALS = {s: s + "s" for s in SHAPES}
CAPTION_STYLES = ("full", "mixed")
# Where a position reading switches cell: midway between the grid lines (fractions of a side).
POSITION_BOUNDS = ((_GRID[0] + _GRID[1]) / 2, (_GRID[1] + _GRID[2]) / 2)
SCENE_WORDS = tuple(sorted(set(CAPTION_WORDS) | {"and", "letter", "word"}
                           | set(COUNT_WORDS.values()) | set(PLURALS.values())
                           | {c.lower() for c in LETTERS}))
# The longest caption, in words: three glyph phrases of 10 words ("the small letter A in red
# at the top left") and one "and". A text encoder for scenes needs max_length >= this + 2
# (the shipped one has 12 tokens: enough for one object, not for a scene).
MAX_CAPTION_WORDS = 31
_OPTIONAL = ("size", "color", "position")      # what a "mixed" caption may leave out
_MIXED_NAME_RATE = {"size": 0.5, "color": 0.75, "position": 0.5}


@dataclass
class SceneBatch:
    """A batch of scenes (all tensors on the CPU); K = ``MAX_OBJECTS``.

    images        (n, 3, H, W) float32 in [-1, 1], black background (-1)
    captions      list of n strings
    masks         (n, 1, H, W) float32 in {0, 1}: every object's pixels
    edges         (n, 1, H, W) float32 in {0, 1}: the outlines (mask minus its 3x3 erosion)
    object_masks  (n, K, H, W) bool: object k's pixels (all False where the scene has
                  fewer than k + 1 objects; a word is one object)
    boxes         (n, K, 4) long: (x0, y0, x1, y1) of each object's pixels, x1 and y1
                  exclusive; -1 where there is no object
    objects       per scene, a list of dicts, one per object (the truth, whatever the
                  caption names): {"kind", "shape" (shapes) or "text" (glyphs), "color",
                  "size", "position", "box"}
    phrases       per scene, the caption as ``parse_scene_caption`` returns it
    """

    images: torch.Tensor
    captions: list
    masks: torch.Tensor
    edges: torch.Tensor
    object_masks: torch.Tensor
    boxes: torch.Tensor
    objects: list
    phrases: list

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def num_objects(self) -> torch.Tensor:
        """Objects per scene, LongTensor (n,)."""
        return torch.tensor([len(o) for o in self.objects], dtype=torch.long)


# --------------------------------------------------------------------------- captions
def _check_phrase(i: int, p) -> dict:
    if not isinstance(p, dict):
        raise TypeError(f"phrases[{i}] must be a dict, got {type(p).__name__}")
    kind = check_choice(f"phrases[{i}]['kind']", p.get("kind"), KINDS)
    count = check_int(f"phrases[{i}]['count']", p.get("count", 1), minimum=1,
                      maximum=MAX_OBJECTS)
    if kind == "shape":
        check_choice(f"phrases[{i}]['shape']", p.get("shape"), SHAPES)
    elif kind == "letter":
        _glyphs.check_letter(f"phrases[{i}]['text']", p.get("text"))
    else:
        check_word(f"phrases[{i}]['text']", p.get("text"))
    if count > 1 and (kind != "shape" or "position" in p):
        raise ValueError(f"phrases[{i}] counts {count} objects: only shapes are counted, "
                         f"and a counted group names no position; got {p}")
    if "color" in p:
        check_choice(f"phrases[{i}]['color']", p["color"], COLORS)
    if "size" in p:
        check_choice(f"phrases[{i}]['size']", p["size"], SIZES)
    if "position" in p:
        check_choice(f"phrases[{i}]['position']", p["position"], POSITIONS)
    extra = set(p) - {"kind", "count", "shape", "text", "color", "size", "position"}
    if extra:
        raise ValueError(f"phrases[{i}] has unknown keys {sorted(extra)}")
    return p


def phrase_text(p: dict) -> str:
    """One phrase of a scene caption (module docstring): "a small red circle at the left",
    "three yellow triangles", "the letter A in green", "the word CAT"."""
    p = _check_phrase(0, p)
    size = [p["size"]] if "size" in p else []
    where = [_position_phrase(p["position"])] if "position" in p else []
    if p["kind"] == "shape":
        color = [p["color"]] if "color" in p else []
        count = p.get("count", 1)
        if count > 1:
            return " ".join([COUNT_WORDS[count]] + size + color + [PLURALS[p["shape"]]])
        return " ".join(["a"] + size + color + [p["shape"]] + where)
    color = ["in", p["color"]] if "color" in p else []
    noun = "letter" if p["kind"] == "letter" else "word"
    return " ".join(["the"] + size + [noun, p["text"].upper()] + color + where)


def scene_caption(phrases: list) -> str:
    """The caption of a scene described by ``phrases`` (what ``parse_scene_caption``
    returns): "X", "X and Y" or "X, Y and Z"."""
    if not isinstance(phrases, (list, tuple)) or not phrases:
        raise ValueError(f"phrases must be a non-empty list of phrase dicts, got {phrases!r}")
    parts = [phrase_text(_check_phrase(i, p)) for i, p in enumerate(phrases)]
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _parse_phrase(words: list, caption: str) -> dict:
    """One phrase (a list of its words, original case) to a phrase dict."""
    out: dict = {}
    rest = []
    i = 0
    while i < len(words):
        lw = words[i].lower()
        if lw in ("letter", "word"):
            if "kind" in out or i + 1 >= len(words):
                raise ValueError(f"caption {caption!r}: {lw!r} must be followed by its text, "
                                 "once per phrase")
            out["kind"] = lw
            text = words[i + 1]
            if lw == "letter":
                out["text"] = _glyphs.check_letter(f"the letter in caption {caption!r}", text)
            else:
                out["text"] = check_word(f"the word in caption {caption!r}", text)
            i += 2
            continue
        if lw in COUNT_WORDS.values():
            if "count" in out:
                raise ValueError(f"caption {caption!r} counts twice in one phrase")
            out["count"] = {v: k for k, v in COUNT_WORDS.items()}[lw]
        elif lw in PLURALS.values():
            if "kind" in out:
                raise ValueError(f"caption {caption!r} names two objects in one phrase")
            out["kind"] = "shape"
            rest.append(lw[:-1])
            out["plural"] = True
        else:
            rest.append(lw)
        i += 1
    try:
        found = parse_caption(" ".join(rest))
    except ValueError as e:
        raise ValueError(f"caption {caption!r}: {e}") from None
    plural = out.pop("plural", False)
    count = out.get("count", 1)
    if plural != (count > 1):
        raise ValueError(f"caption {caption!r}: a count needs a plural noun and a plural noun "
                         "needs a count (\"two circles\", \"a circle\")")
    kind = out.get("kind")
    if kind in ("letter", "word"):
        if "shape" in found:
            raise ValueError(f"caption {caption!r} names a shape and a {kind} in one phrase")
    elif "shape" in found:
        kind = "shape"
    else:
        raise ValueError(f"caption {caption!r}: every phrase names a shape, a letter or a "
                         f"word; got {' '.join(words)!r}")
    phrase = {"kind": kind, "count": count}
    if kind == "shape":
        phrase["shape"] = found["shape"]
    else:
        phrase["text"] = out["text"]
    for k in ("color", "size", "position"):
        if k in found:
            phrase[k] = found[k]
    return _check_phrase(0, phrase)


def parse_scene_caption(caption: str) -> list:
    """The phrases of a scene caption: the inverse of ``scene_caption``.

    >>> parse_scene_caption("a red circle at the left and three small blue squares")
    [{'kind': 'shape', 'count': 1, 'shape': 'circle', 'color': 'red', 'position': 'left'},
     {'kind': 'shape', 'count': 3, 'shape': 'square', 'color': 'blue', 'size': 'small'}]

    Phrases are split at commas and "and". Letters and words may come in any case and
    are returned upper-case. A word the scenes world does not know, a count without a
    plural, or more than ``MAX_OBJECTS`` objects in all is a ValueError naming the problem.
    """
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a str, got {type(caption).__name__}")
    tokens = caption.replace(",", " , ").replace(".", " ").split()
    phrases, current = [], []
    for t in tokens + [","]:
        if t == "," or t.lower() == "and":
            if current:
                phrases.append(_parse_phrase(current, caption))
            elif t.lower() == "and" or phrases:
                raise ValueError(f"caption {caption!r} has an empty phrase")
            current = []
        else:
            current.append(t)
    if not phrases:
        raise ValueError(f"caption {caption!r} names no object")
    total = sum(p["count"] for p in phrases)
    if total > MAX_OBJECTS:
        raise ValueError(f"caption {caption!r} names {total} objects; a scene holds at most "
                         f"{MAX_OBJECTS}")
    return phrases


def wanted_objects(phrases: list) -> list:
    """The objects a caption asks for, one dict per object (counted groups expanded), with
    only the attributes it names: [{"kind": "shape", "shape": "triangle", "color": ...}]."""
    out = []
    for p in phrases:
        obj = {k: v for k, v in p.items() if k != "count"}
        out += [dict(obj) for _ in range(p.get("count", 1))]
    return out


# --------------------------------------------------------------------------- geometry
def position_of(cx, cy, height: int, width: int) -> str:
    """The position name of a point (pixels; x right, y down) on an H x W canvas: the grid
    cell nearest per axis (module docstring)."""
    def band(v, side):
        f = v / side
        return 0 if f < POSITION_BOUNDS[0] else (1 if f < POSITION_BOUNDS[1] else 2)
    return POSITIONS[3 * band(float(cy), height) + band(float(cx), width)]


def _half_extent(kind: str, name: str, size: str, scale: float) -> tuple[float, float]:
    """Half width and half height (pixels) of an object's outline."""
    if kind == "shape":
        r = _RADIUS[size] * 32 * scale * (1 + _RADIUS_JITTER)        # the largest it may be
        return {"circle": (r, r), "square": (0.88 * r, 0.88 * r),
                "triangle": (1.25 * r * math.sqrt(3) / 2, 0.75 * 1.25 * r)}[name]
    cell = glyph_cell(size, scale)
    w, h = _glyphs.text_extent(name, cell)
    return w / 2, h / 2


def clearance(object_size: int = 32) -> int:
    """Empty pixels kept between two objects: ``CLEARANCE`` at ``object_size`` 32 or less,
    scaled up with bigger objects (so word letters stay closer than separate objects)."""
    return math.ceil(CLEARANCE * max(1.0, object_size / 32))


def glyph_cell(size: str, scale: float = 1.0) -> int:
    """Pixels per font cell of a glyph of this size (``object_size`` / 32 = ``scale``)."""
    return max(1, round(GLYPH_CELLS[size] * scale))


# --------------------------------------------------------------------------- rendering
def _render_objects(objs: list, cx: torch.Tensor, cy: torch.Tensor, r: torch.Tensor,
                    H: int, W: int, scale: float) -> torch.Tensor:
    """Masks (N, H, W) of N objects (dicts with kind, shape/text, size), centred at
    (cx, cy) pixels; shapes have radius r (pixels)."""
    N = len(objs)
    masks = torch.zeros(N, H, W, dtype=torch.bool)
    xs = torch.arange(W, dtype=torch.float32) + 0.5
    ys = torch.arange(H, dtype=torch.float32) + 0.5
    for name in SHAPES:
        idx = torch.tensor([i for i, o in enumerate(objs) if o.get("shape") == name],
                           dtype=torch.long)
        if idx.numel():
            dx = xs.view(1, 1, W) - cx[idx].view(-1, 1, 1)
            dy = ys.view(1, H, 1) - cy[idx].view(-1, 1, 1)
            masks[idx] = _inside(name, dx, dy, r[idx].view(-1, 1, 1))
    gi = [i for i, o in enumerate(objs) if o["kind"] != "shape"]
    if gi:
        idx = torch.tensor(gi, dtype=torch.long)
        texts = [objs[i]["text"] for i in gi]
        cells = torch.tensor([glyph_cell(objs[i]["size"], scale) for i in gi])
        ext = torch.tensor([_glyphs.text_extent(t, int(c)) for t, c in zip(texts, cells)],
                           dtype=torch.float32)
        x0 = torch.round(cx[idx] - ext[:, 0] / 2)                  # whole pixels: crisp
        y0 = torch.round(cy[idx] - ext[:, 1] / 2)
        masks[idx] = draw_text(texts, x0, y0, cells, H, W)
    return masks


def _boxes(masks: torch.Tensor) -> torch.Tensor:
    """(N, 4) long boxes (x0, y0, x1, y1), exclusive ends, of (N, H, W) masks; -1 if empty."""
    N, H, W = masks.shape
    cols, rows = masks.any(1), masks.any(2)                          # (N, W), (N, H)
    ar_w, ar_h = torch.arange(W), torch.arange(H)
    big = max(H, W) + 1
    x0 = torch.where(cols, ar_w, big).amin(1)
    x1 = torch.where(cols, ar_w, -1).amax(1) + 1
    y0 = torch.where(rows, ar_h, big).amin(1)
    y1 = torch.where(rows, ar_h, -1).amax(1) + 1
    out = torch.stack([x0, y0, x1, y1], 1)
    return torch.where(cols.any(1, keepdim=True), out, torch.full_like(out, -1))


def _grow(masks: torch.Tensor, pixels: int) -> torch.Tensor:
    """Dilation of (N, H, W) bool masks by a (2 pixels + 1) square, as float: two 1-D max
    pools (rows, then columns), the square being separable."""
    k = 2 * pixels + 1
    x = F.max_pool2d(masks.float().unsqueeze(1), (1, k), stride=1, padding=(0, pixels))
    return F.max_pool2d(x, (k, 1), stride=1, padding=(pixels, 0)).squeeze(1)


def _slots(scene_of: torch.Tensor) -> torch.Tensor:
    """Each object's index within its scene (objects of a scene are contiguous)."""
    N = scene_of.shape[0]
    start = torch.ones(N, dtype=torch.bool)
    start[1:] = scene_of[1:] != scene_of[:-1]
    first = torch.cummax(torch.where(start, torch.arange(N), 0), 0).values
    return torch.arange(N) - first


def _place(objs: list, scene_of: torch.Tensor, n: int, H: int, W: int, scale: float,
           gen: torch.Generator):
    """Cells and centres for every object: distinct cells per scene, each feasible for the
    object's extent; centre jittered within the cell's band and the canvas.
    Returns (cell (N,), cx (N,), cy (N,)) or raises if an object fits no free cell."""
    N = len(objs)
    half = torch.tensor([_half_extent(o["kind"], o.get("shape") or o["text"], o["size"], scale)
                         for o in objs], dtype=torch.float32)        # (N, 2): hw, hh
    margin, edge = 1.0, 0.5          # px from a band's edge (position reads right), from the border
    bands = [(0.0, POSITION_BOUNDS[0]), POSITION_BOUNDS, (POSITION_BOUNDS[1], 1.0)]

    def interval(side, h, k):                                        # centre range in band k
        lo = torch.maximum(h + edge, torch.tensor(bands[k][0] * side + margin))
        hi = torch.minimum(side - h - edge, torch.tensor(bands[k][1] * side - margin))
        return lo, hi

    lo_x, hi_x, lo_y, hi_y = (torch.zeros(N, 3) for _ in range(4))
    for k in range(3):
        lo_x[:, k], hi_x[:, k] = interval(W, half[:, 0], k)
        lo_y[:, k], hi_y[:, k] = interval(H, half[:, 1], k)
    ok_col, ok_row = lo_x <= hi_x, lo_y <= hi_y                      # (N, 3)
    feasible = (ok_row.unsqueeze(2) & ok_col.unsqueeze(1)).view(N, 9)
    # The wanted position, where the object has one, is the only feasible cell.
    for i, o in enumerate(objs):
        if "position" in o:
            only = torch.zeros(9, dtype=torch.bool)
            only[POSITIONS.index(o["position"])] = True
            feasible[i] &= only
    if not feasible.any(1).all():
        bad = int((~feasible.any(1)).nonzero()[0])
        raise ValueError(f"a {objs[bad]['size']} {objs[bad]['kind']} "
                         f"{objs[bad].get('shape') or objs[bad]['text']!r} does not fit "
                         f"{'at the ' + objs[bad]['position'] if 'position' in objs[bad] else ''}"
                         f" on a {H}x{W} canvas (height x width)")
    # Distinct cells per scene: objects in slot order, each takes the feasible free cell
    # with the highest random score.
    cell = torch.zeros(N, dtype=torch.long)
    used = torch.zeros(n, 9, dtype=torch.bool)
    slot = _slots(scene_of)
    score = torch.rand(N, 9, generator=gen)
    for s in range(int(slot.max()) + 1):
        idx = (slot == s).nonzero().squeeze(1)
        sc = scene_of[idx]
        allowed = feasible[idx] & ~used[sc]
        pick = torch.where(allowed, score[idx], torch.full_like(score[idx], -1.0)).argmax(1)
        fails = ~allowed.gather(1, pick.view(-1, 1)).squeeze(1)
        if fails.any():                                              # resolved by a redraw
            pick[fails] = -1
        cell[idx] = pick
        ok = pick >= 0
        used[sc[ok], pick[ok]] = True
    row, col = cell.clamp(min=0) // 3, cell.clamp(min=0) % 3
    grid = torch.tensor(_GRID)
    jit_x = max(_JITTER, 0.04 * W)
    jit_y = max(_JITTER, 0.04 * H)
    jx = (torch.rand(N, generator=gen) * 2 - 1) * jit_x
    jy = (torch.rand(N, generator=gen) * 2 - 1) * jit_y
    ar = torch.arange(N)
    cx = torch.minimum(torch.maximum(grid[col] * W + jx, lo_x[ar, col]), hi_x[ar, col])
    cy = torch.minimum(torch.maximum(grid[row] * H + jy, lo_y[ar, row]), hi_y[ar, row])
    return cell, cx, cy


def render_scenes(objects: list, height: int = 32, width: int | None = None,
                  object_size: int = 32, seed: int = 0, captions: list | None = None,
                  phrases: list | None = None, max_tries: int = 200,
                  shrink_after: int | None = None) -> SceneBatch:
    """Draw the given scenes. ``objects[i]`` is a list of 1 to 3 object dicts: {"kind":
    "shape", "shape", "color", "size"} or {"kind": "letter" | "word", "text", "color",
    "size"}, each with an optional "position" (where it must be; otherwise a free cell).
    Positions, jitter and sizes come from ``seed``; scenes whose objects would come
    closer than ``CLEARANCE`` are redrawn (at most ``max_tries`` times).

    ``shrink_after``: if set, a scene still unplaced after that many tries has one of its
    large objects drawn small instead, and so on after every ``shrink_after`` further tries
    (a 32x32 canvas cannot hold two large squares 3 px apart); the truth in ``objects``
    says what was drawn.
    Without it such a scene is a ValueError.

    ``captions``/``phrases``: what to caption each scene with; by default the full caption
    (every object named with all its attributes, in order).
    """
    H = check_int("height", height, minimum=16)
    W = H if width is None else check_int("width", width, minimum=16)
    object_size = check_int("object_size", object_size, minimum=8)
    seed = check_int("seed", seed)
    max_tries = check_int("max_tries", max_tries, minimum=1)
    scale = object_size / 32
    if not isinstance(objects, (list, tuple)) or not objects:
        raise ValueError("objects must be a non-empty list (one list of object dicts per scene)")
    flat, scene_of = [], []
    for i, scene in enumerate(objects):
        if not isinstance(scene, (list, tuple)) or not 1 <= len(scene) <= MAX_OBJECTS:
            raise ValueError(f"objects[{i}] must be a list of 1 to {MAX_OBJECTS} object "
                             f"dicts, got {scene!r}")
        for j, o in enumerate(scene):
            flat.append(_check_object(f"objects[{i}][{j}]", o))
            scene_of.append(i)
        named = [o["position"] for o in flat[len(flat) - len(scene):] if "position" in o]
        if len(named) != len(set(named)):
            raise ValueError(f"objects[{i}] puts two objects at the same position: {named}")
    n = len(objects)
    scene_of = torch.tensor(scene_of)
    gen = torch.Generator().manual_seed(seed)
    N = len(flat)
    r_jitter = 1 + (torch.rand(N, generator=gen) * 2 - 1) * _RADIUS_JITTER
    masks = torch.zeros(N, H, W, dtype=torch.bool)
    todo = torch.ones(n, dtype=torch.bool)
    for attempt in range(max_tries):
        if shrink_after is not None and attempt and attempt % shrink_after == 0:
            for s in todo.nonzero().squeeze(1).tolist():            # one large object less
                large = [i for i in (scene_of == s).nonzero().squeeze(1).tolist()
                         if flat[i]["size"] == "large"]
                if large:
                    flat[large[-1]]["size"] = "small"
        r = torch.tensor([_RADIUS[o["size"]] * 32 * scale for o in flat]) * r_jitter
        ts = todo.nonzero().squeeze(1)                              # scenes to (re)draw
        T = len(ts)
        local = torch.full((n,), -1, dtype=torch.long)
        local[ts] = torch.arange(T)
        sel = todo[scene_of].nonzero().squeeze(1)                   # their objects
        # K candidate layouts per scene in one pass (as many as ~8M pixels allow); each
        # scene keeps its first candidate that works.
        K = max(1, min(4, 2 ** 23 // (len(sel) * H * W)))
        sub = [flat[i] for i in sel.tolist()] * K
        sub_scene = (torch.arange(K).repeat_interleave(len(sel)) * T
                     + local[scene_of[sel]].repeat(K))
        cell, cx, cy = _place(sub, sub_scene, K * T, H, W, scale, gen)
        m = _render_objects(sub, cx, cy, r[sel].repeat(K), H, W, scale)
        bad = torch.zeros(K * T, dtype=torch.bool)
        bad[sub_scene[cell < 0]] = True
        # Clearance: dilate every object by CLEARANCE px; it must not meet another object.
        grown = _grow(m, clearance(object_size))
        cover = torch.zeros(K * T, H, W).index_add_(0, sub_scene, grown)
        own = torch.zeros(K * T, H, W).index_add_(0, sub_scene, m.float())
        # A clash is an object's pixel inside another object's grown mask: each pixel is
        # covered by its own object's growth once, so a clash is an own pixel covered twice.
        bad |= ((cover * own) > own).flatten(1).any(1)
        good = ~bad.view(K, T)
        pick = good.float().argmax(0)                                # first good candidate
        obj_local = local[scene_of[sel]]
        masks[sel] = m.view(K, len(sel), H, W)[pick[obj_local], torch.arange(len(sel))]
        todo = torch.zeros(n, dtype=torch.bool)
        todo[ts[~good.any(0)]] = True
        if not todo.any():
            break
    else:
        i = int(todo.nonzero()[0])
        raise ValueError(f"could not place the objects of scene {i} ({objects[i]}) on a "
                         f"{H}x{W} canvas without touching after {max_tries} tries; use "
                         "fewer or smaller objects or a larger canvas")
    return _assemble(flat, scene_of, masks, n, H, W, captions, phrases)


def _check_object(name: str, o) -> dict:
    if not isinstance(o, dict):
        raise TypeError(f"{name} must be a dict, got {type(o).__name__}")
    kind = check_choice(f"{name}['kind']", o.get("kind"), KINDS)
    out = {"kind": kind}
    if kind == "shape":
        out["shape"] = check_choice(f"{name}['shape']", o.get("shape"), SHAPES)
    elif kind == "letter":
        out["text"] = _glyphs.check_letter(f"{name}['text']", o.get("text"))
    else:
        out["text"] = check_word(f"{name}['text']", o.get("text"))
    out["color"] = check_choice(f"{name}['color']", o.get("color"), COLORS)
    out["size"] = check_choice(f"{name}['size']", o.get("size"), SIZES)
    if "position" in o:
        out["position"] = check_choice(f"{name}['position']", o["position"], POSITIONS)
    return out


def _assemble(flat, scene_of, masks, n, H, W, captions, phrases) -> SceneBatch:
    N = len(flat)
    slot = _slots(scene_of)
    object_masks = torch.zeros(n, MAX_OBJECTS, H, W, dtype=torch.bool)
    object_masks[scene_of, slot] = masks
    boxes = torch.full((n, MAX_OBJECTS, 4), -1, dtype=torch.long)
    b = _boxes(masks)
    boxes[scene_of, slot] = b
    palette = torch.tensor(list(COLORS.values()), dtype=torch.float32) * 2 - 1
    color_idx = torch.tensor([list(COLORS).index(o["color"]) for o in flat])
    images = torch.full((n, 3, H, W), -1.0)
    # Objects never overlap, so each pixel gets at most one colour.
    paint = masks.unsqueeze(1) * (palette[color_idx] + 1).view(N, 3, 1, 1)
    images.index_add_(0, scene_of, paint)
    union = object_masks.any(1, keepdim=True).float()
    objects = [[] for _ in range(n)]
    for o, s, box in zip(flat, scene_of.tolist(), b.tolist()):
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        truth = {k: v for k, v in o.items() if k != "position"}
        truth["position"] = position_of(cx, cy, H, W)
        if "position" in o and truth["position"] != o["position"]:    # placement guarantees
            raise RuntimeError(f"placed at {truth['position']} instead of {o['position']}")
        truth["box"] = tuple(box)
        objects[s].append(truth)
    if phrases is None:
        phrases = [[_full_phrase(o) for o in objs] for objs in objects]
    if captions is None:
        captions = [scene_caption(p) for p in phrases]
    return SceneBatch(images=images, captions=list(captions), masks=union,
                      edges=union - _erode(union), object_masks=object_masks, boxes=boxes,
                      objects=objects, phrases=phrases)


def _full_phrase(o: dict, keep=("size", "color", "position")) -> dict:
    p = {"kind": o["kind"], "count": 1}
    p["shape" if o["kind"] == "shape" else "text"] = o.get("shape") or o["text"]
    for k in ("color", "size", "position"):
        if k in keep:
            p[k] = o[k]
    return p


# --------------------------------------------------------------------------- sampling
def make_scenes(n: int, seed: int = 0, height: int = 32, width: int | None = None,
                num_objects=(1, 2, 3), letter_rate: float = 0.0, group_rate: float = 0.0,
                words=None, word_rate: float = 0.0, caption_style: str = "full",
                object_size: int = 32, letters=LETTERS) -> SceneBatch:
    """``n`` random scenes, deterministic by ``seed``.

    num_objects: how many objects a scene holds, drawn uniformly from this tuple (1 to 3).
    letter_rate: the chance that an object is a letter (from ``letters``) instead of a shape.
    group_rate: the chance that a scene of two or three objects is a counted group
        ("three yellow triangles": identical shapes, positions unnamed).
    words, word_rate: with probability ``word_rate`` a scene is one word drawn from
        ``words`` ("the word CAT in blue at the top"), e.g. ``data.glyphs.TRAIN_WORDS``.
    caption_style: "full" names every attribute of every object; "mixed" names each
        object's size, colour and position with probability 1/2, 3/4 and 1/2 (a group's
        size and colour likewise), for training a model on partial prompts.
    object_size: the canvas side at which objects have the shapes world's sizes (32: a
        small circle has radius 4 px); objects keep this pixel size on every canvas.

    Attributes are uniform and independent, object by object.
    """
    n = check_int("n", n, minimum=1)
    seed = check_int("seed", seed)
    H = check_int("height", height, minimum=16)
    W = H if width is None else check_int("width", width, minimum=16)
    if isinstance(num_objects, int):
        num_objects = (num_objects,)
    num_objects = tuple(check_int("num_objects entry", k, minimum=1, maximum=MAX_OBJECTS)
                        for k in num_objects)
    if not num_objects:
        raise ValueError("num_objects must name at least one count from 1 to 3")
    letter_rate = check_number("letter_rate", letter_rate, minimum=0, maximum=1)
    group_rate = check_number("group_rate", group_rate, minimum=0, maximum=1)
    word_rate = check_number("word_rate", word_rate, minimum=0, maximum=1)
    check_choice("caption_style", caption_style, CAPTION_STYLES)
    letters = tuple(_glyphs.check_letter("letters entry", c) for c in letters)
    if word_rate > 0:
        if not words:
            raise ValueError("word_rate > 0 needs words, e.g. data.glyphs.TRAIN_WORDS")
        words = tuple(check_word("words entry", w) for w in words)
    gen = torch.Generator().manual_seed(seed)
    k = torch.tensor(num_objects)[torch.randint(len(num_objects), (n,), generator=gen)]
    is_word = torch.rand(n, generator=gen) < word_rate
    is_group = (torch.rand(n, generator=gen) < group_rate) & (k > 1) & ~is_word
    colors, sizes = tuple(COLORS), SIZES
    R = MAX_OBJECTS
    shape_i = torch.randint(len(SHAPES), (n, R), generator=gen)
    color_i = torch.randint(len(colors), (n, R), generator=gen)
    size_i = torch.randint(len(sizes), (n, R), generator=gen)
    letter_i = torch.randint(len(letters), (n, R), generator=gen)
    is_letter = torch.rand(n, R, generator=gen) < letter_rate
    word_i = torch.randint(len(words) if words else 1, (n,), generator=gen)
    name = {k2: torch.rand(n, R, generator=gen) < _MIXED_NAME_RATE[k2] for k2 in _OPTIONAL}
    scenes, keeps = [], []
    for i in range(n):
        objs, keep = [], []
        if is_word[i]:
            objs.append({"kind": "word", "text": words[int(word_i[i])],
                         "color": colors[int(color_i[i, 0])], "size": sizes[int(size_i[i, 0])]})
        else:
            for j in range(int(k[i])):
                jj = 0 if is_group[i] else j                          # a group repeats object 0
                o = {"color": colors[int(color_i[i, jj])], "size": sizes[int(size_i[i, jj])]}
                if is_letter[i, jj] and not is_group[i]:
                    o.update(kind="letter", text=letters[int(letter_i[i, jj])])
                else:
                    o.update(kind="shape", shape=SHAPES[int(shape_i[i, jj])])
                objs.append(o)
        for j in range(len(objs)):
            keep.append(tuple(a for a in _OPTIONAL
                              if caption_style == "full" or bool(name[a][i, j])))
        scenes.append(objs)
        keeps.append(keep)
    # Small canvases cannot hold a large word: words are drawn small where large ones do not fit.
    for objs in scenes:
        for o in objs:
            if o["kind"] == "word":
                w, h = _glyphs.text_extent(o["text"], glyph_cell(o["size"], object_size / 32))
                if w + 2 > W or h + 2 > H:
                    o["size"] = "small"
    batch = render_scenes(scenes, H, W, object_size=object_size,
                          seed=int(torch.randint(2 ** 31, (1,), generator=gen)),
                          captions=[""] * n, phrases=[[]] * n, shrink_after=4)
    phrases = []
    for i, (objs, keep) in enumerate(zip(batch.objects, keeps)):
        if is_group[i]:
            group = {"kind": "shape", "count": len(objs), "shape": objs[0]["shape"]}
            for a in ("color", "size"):                              # a shrunk group: no size
                if a in keep[0] and len({o[a] for o in objs}) == 1:
                    group[a] = objs[0][a]
            phrases.append([group])
        else:
            phrases.append([_full_phrase(o, kp) for o, kp in zip(objs, keep)])
    batch.phrases = phrases
    batch.captions = [scene_caption(p) for p in phrases]
    return batch


class ScenesDataset(torch.utils.data.Dataset):
    """A fixed, seeded set of ``n`` scenes (``make_scenes`` arguments) for a DataLoader.
    Each item is ``dict(image, caption, mask)``."""

    def __init__(self, n: int, seed: int = 0, **kwargs):
        self.batch = make_scenes(n, seed=seed, **kwargs)

    def __len__(self) -> int:
        return len(self.batch)

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for a ScenesDataset of {len(self)}")
        b = self.batch
        return {"image": b.images[i], "caption": b.captions[i], "mask": b.masks[i]}


__all__ = ["CANVASES", "CLEARANCE", "KINDS", "MAX_CAPTION_WORDS", "MAX_OBJECTS", "POSITION_BOUNDS", "SCENE_WORDS",
           "SceneBatch", "ScenesDataset", "clearance", "glyph_cell", "make_scenes", "parse_scene_caption",
           "phrase_text", "position_of", "render_scenes", "scene_caption", "wanted_objects"]
