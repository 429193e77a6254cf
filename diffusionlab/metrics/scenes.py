"""The scene reader: what is in a picture of the wider world (``data.scenes``), and does it
match its caption? Measures binding, counting and spelling (lessons 16 and 17).

Reading an image (``SceneReader.read``), no training involved beyond the shipped evaluator:

1. **Split into objects**: foreground (brightest channel > ``threshold``, default -0.3:
   ``DEFAULT_THRESHOLD``) cut into
   8-connected components (``metrics.counting.component_labels``); components smaller than
   ``min_area`` pixels are specks and ignored.
2. **Shape or glyph, by geometry**: a component at least 1.2 times as tall as it is wide is
   a glyph (every letter is 7 cells tall and 5 wide: 1.4), anything squatter a shape
   (circles and squares are 1.0, triangles 0.87).
3. **A shape is judged by the shipped single-object evaluator** (``metrics.evaluator``):
   a 32x32 window centred on the component's box, with only that component's pixels on
   black, read by the shape, colour and size heads (the evaluator was trained on single
   objects on black at this scale; objects keep their pixel size on every canvas).
4. **A glyph is read by template matching** against the procedural font
   (``data.glyphs``): its cell size is its height / 7; each of its 5 x 7 cells gets the
   fraction of ink among the pixels whose centres fall in it, and the letter is the
   template with the smallest mean absolute difference. Template matching reads rendered
   letters exactly (they *are* the scaled bitmap; measured on thousands, see the tests),
   so no classifier was trained. Its colour is the palette colour nearest to its mean
   colour (``metrics.images.dominant_color``'s rule), its size small or large by height.
5. **Glyphs become words**: glyphs on one row (tops within a pixel, same height) whose gap
   is at most one font cell plus a pixel (and less than the clearance kept between
   objects) are one word, read left to right.
6. **Position by geometry**: the grid cell nearest to the centre of the object's box
   (``data.scenes.position_of``), the rule the scenes are drawn with.

Scoring against a caption (``score_scenes``; the pure function ``judge_scene`` per scene):
the caption's objects (``data.scenes.wanted_objects``: counted groups expanded) are
matched to the objects read by an optimal assignment (the fewest wrong attributes in
all; brute force over assignments, exact for three objects), then

    object accuracy    share of the caption's objects drawn with every attribute it names
    scene accuracy     share of scenes with every object right and no extra object
    count accuracy     share of scenes with exactly as many objects as the caption asks for
    binding errors     share of multi-object scenes where an object carries a shape, colour
                       or size the caption gave to *another* object (the right attributes
                       on the wrong object)
    letter accuracy    share of the caption's letters (single letters and the letters of
                       words, position by position) read back
    word accuracy      share of the caption's words read back exactly
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .._checks import check_captions, check_int, check_number, check_tensor
from ..data.glyphs import GLYPH_HEIGHT, GLYPH_WIDTH, LETTERS, WORD_GAP, glyph_bitmaps
from ..data.scenes import clearance, parse_scene_caption, position_of, wanted_objects
from ..data.shapes import COLORS, SHAPES, SIZES
from .counting import component_labels

GLYPH_ASPECT = 1.2                 # height / width at or above which a component is a glyph
BINDING_ATTRIBUTES = ("shape", "color", "size")
# Foreground is brightest channel > -0.3, not count_objects' 0.0: a one-pixel stroke of a
# small letter, blurred and dimmed as a generated one may be, peaks near 0 (measured on
# degraded scenes, recipes.evaluator.augment: letter accuracy 0.94 at -0.3, 0.88 at 0.0,
# worse again below -0.4 as noise joins objects; see tests/test_scene_reader.py).
DEFAULT_THRESHOLD = -0.3
MAX_FOUND = 12                     # objects considered per image when matching (largest first)


@dataclass
class Components:
    """The connected components of a batch (K of them, over all images).

    image (K,) which image; box (K, 4) x0, y0, x1, y1 (exclusive); area (K,); color (K, 3)
    mean colour; ids (K,) their ids in ``labels`` (n, H, W)."""

    image: torch.Tensor
    box: torch.Tensor
    area: torch.Tensor
    color: torch.Tensor
    ids: torch.Tensor
    labels: torch.Tensor


def find_components(images: torch.Tensor, threshold: float = 0.0, min_area: int = 4,
                    connectivity: int = 8) -> Components:
    """Connected components of every image's foreground with their boxes, areas and mean
    colours (vectorized over the batch), specks below ``min_area`` pixels left out."""
    check_tensor("images", images, ndim=4)
    n, _, H, W = images.shape
    labels = component_labels(images.amax(1) > threshold, connectivity)      # (n, H, W)
    flat = labels.view(-1)
    fg = (flat > 0).nonzero().squeeze(1)
    ids, inv = torch.unique(flat[fg], return_inverse=True)
    K = ids.shape[0]
    img, rem = fg // (H * W), fg % (H * W)
    y, x = rem // W, rem % W
    area = torch.bincount(inv, minlength=K)

    def reduce(v, how, init):
        return torch.full((K,), init, dtype=torch.long).scatter_reduce(0, inv, v, how)
    box = torch.stack([reduce(x, "amin", W), reduce(y, "amin", H),
                       reduce(x, "amax", -1) + 1, reduce(y, "amax", -1) + 1], 1)
    owner = torch.zeros(K, dtype=torch.long).scatter_(0, inv, img)
    pix = images.permute(0, 2, 3, 1).reshape(-1, images.shape[1])[fg].float()
    color = torch.zeros(K, images.shape[1]).index_add_(0, inv, pix) / area.clamp(min=1).view(-1, 1)
    keep = area >= min_area
    return Components(image=owner[keep], box=box[keep], area=area[keep], color=color[keep],
                      ids=ids[keep], labels=labels)


def crop_components(images: torch.Tensor, comps: Components, size: int = 32) -> torch.Tensor:
    """(K, C, size, size): a window centred on each component's box, holding only that
    component's pixels on black (-1); windows past the border are padded with black."""
    K = comps.ids.shape[0]
    C = images.shape[1]
    if K == 0:
        return images.new_zeros(0, C, size, size)
    p = size
    padded = F.pad(images, (p, p, p, p), value=-1.0)
    lab = F.pad(comps.labels, (p, p, p, p), value=0)
    cx = (comps.box[:, 0] + comps.box[:, 2]).float() / 2
    cy = (comps.box[:, 1] + comps.box[:, 3]).float() / 2
    left = torch.round(cx - size / 2).long() + p
    top = torch.round(cy - size / 2).long() + p
    ar = torch.arange(size)
    rows = (top.view(-1, 1) + ar).view(K, size, 1)
    cols = (left.view(-1, 1) + ar).view(K, 1, size)
    b = comps.image.view(K, 1, 1)
    crop = padded.permute(0, 2, 3, 1)[b, rows, cols]                  # (K, size, size, C)
    mine = lab[b, rows, cols] == comps.ids.view(K, 1, 1)
    crop = torch.where(mine.unsqueeze(-1), crop, torch.tensor(-1.0))
    return crop.permute(0, 3, 1, 2).contiguous()


def glyph_cells(mask: torch.Tensor, box) -> torch.Tensor:
    """Ink fraction (7, 5) of each font cell of a glyph whose pixels are ``mask`` (H, W)
    bool and whose box is (x0, y0, x1, y1): the cell size is the box height / 7, and the
    5-cell-wide grid is centred on the box."""
    x0, y0, x1, y1 = [int(v) for v in box]
    cell = (y1 - y0) / GLYPH_HEIGHT
    gx0 = (x0 + x1) / 2 - GLYPH_WIDTH * cell / 2
    ys = torch.arange(y0, y1, dtype=torch.float32) + 0.5
    xs = torch.arange(max(0, math.floor(gx0)), min(mask.shape[1], math.ceil(gx0 + 5 * cell)),
                      dtype=torch.float32) + 0.5
    r = torch.floor((ys - y0) / cell).long().clamp(0, GLYPH_HEIGHT - 1)
    c = torch.floor((xs - gx0) / cell).long()
    ok = (c >= 0) & (c < GLYPH_WIDTH)
    xs, c = xs[ok], c[ok]
    sub = mask[y0:y1][:, (xs - 0.5).long()].float()                 # (h, w')
    idx = (r.view(-1, 1) * GLYPH_WIDTH + c.view(1, -1)).flatten()
    ink = torch.zeros(GLYPH_HEIGHT * GLYPH_WIDTH).index_add_(0, idx, sub.flatten())
    count = torch.zeros(GLYPH_HEIGHT * GLYPH_WIDTH).index_add_(0, idx, torch.ones_like(idx,
                                                               dtype=torch.float32))
    return (ink / count.clamp(min=1)).view(GLYPH_HEIGHT, GLYPH_WIDTH)


def read_glyph(cells: torch.Tensor) -> tuple[str, float]:
    """The letter whose template is nearest to the ink fractions ``cells`` (7, 5), and its
    agreement 1 - mean |cells - template| (1.0 for a rendered letter)."""
    t = glyph_bitmaps().float()                                      # (26, 7, 5)
    agreement = 1 - (cells.unsqueeze(0) - t).abs().flatten(1).mean(1)
    best = int(agreement.argmax())
    return LETTERS[best], float(agreement[best])


def _nearest_color(rgb: torch.Tensor) -> str:
    palette = torch.tensor(list(COLORS.values()), dtype=torch.float32) * 2 - 1
    return list(COLORS)[int(torch.cdist(rgb.view(1, -1).float(), palette).argmin())]


class SceneReader:
    """Reads the objects of scenes and scores them against captions (module docstring).

    evaluator: a ``ShapesEvaluator`` (default: the shipped one) for shapes.
    object_size: the ``object_size`` the scenes were drawn with (32: shapes-world sizes).
    threshold, min_area, connectivity: as ``metrics.counting.count_objects`` (threshold
        ``DEFAULT_THRESHOLD``, lower than there, so thin letter strokes survive blur).
    """

    def __init__(self, evaluator=None, object_size: int = 32,
                 threshold: float = DEFAULT_THRESHOLD,
                 min_area: int = 4, connectivity: int = 8):
        if evaluator is None:
            from .evaluator import ShapesEvaluator
            evaluator = ShapesEvaluator.pretrained()
        self.evaluator = evaluator
        self.object_size = check_int("object_size", object_size, minimum=8)
        self.threshold = check_number("threshold", threshold)
        self.min_area = check_int("min_area", min_area, minimum=1)
        self.connectivity = connectivity

    # ------------------------------------------------------------------ reading
    def read(self, images: torch.Tensor) -> list:
        """Per image, the objects read, in reading order (top to bottom, left to right):
        [{"kind": "shape", "shape", "color", "size", "position", "box", "area"} or
        {"kind": "letter" | "word", "text", "color", "size", "position", "box", "area"}]."""
        check_tensor("images", images, ndim=4)
        if images.shape[1] != 3:
            raise ValueError(f"images must have 3 channels (RGB), got shape "
                             f"{tuple(images.shape)}")
        images = images.detach().float().cpu()
        n, _, H, W = images.shape
        comps = find_components(images, self.threshold, self.min_area, self.connectivity)
        w = (comps.box[:, 2] - comps.box[:, 0]).float()
        h = (comps.box[:, 3] - comps.box[:, 1]).float()
        is_glyph = h >= GLYPH_ASPECT * w
        scale = self.object_size / 32
        shapes = (~is_glyph).nonzero().squeeze(1)
        shape_pred = {}
        if shapes.numel():
            sub = Components(comps.image[shapes], comps.box[shapes], comps.area[shapes],
                             comps.color[shapes], comps.ids[shapes], comps.labels)
            crops = crop_components(images, sub, size=self.object_size)
            if self.object_size != 32:
                crops = F.interpolate(crops, size=(32, 32), mode="bilinear", antialias=True,
                                      align_corners=False)
            labels = self.evaluator.predict_labels(crops)
            for j, k in enumerate(shapes.tolist()):
                shape_pred[k] = {"shape": SHAPES[int(labels["shape"][j])],
                                 "color": list(COLORS)[int(labels["color"][j])],
                                 "size": SIZES[int(labels["size"][j])]}
        per_image = [[] for _ in range(n)]
        for k in range(comps.ids.shape[0]):
            b = int(comps.image[k])
            box = tuple(int(v) for v in comps.box[k])
            obj = {"box": box, "area": int(comps.area[k])}
            if k in shape_pred:
                obj.update(kind="shape", **shape_pred[k])
            else:
                cells = glyph_cells(comps.labels[b] == comps.ids[k], box)
                letter, agreement = read_glyph(cells)
                size = "large" if h[k] >= 1.5 * GLYPH_HEIGHT * scale else "small"
                obj.update(kind="letter", text=letter, color=_nearest_color(comps.color[k]),
                           size=size, agreement=round(agreement, 3), rgb=comps.color[k])
            per_image[b].append(obj)
        out = []
        for b, objs in enumerate(per_image):
            objs = self._words(objs, images[b])
            for o in objs:
                x0, y0, x1, y1 = o["box"]
                o["position"] = position_of((x0 + x1) / 2, (y0 + y1) / 2, H, W)
                o.pop("rgb", None)
            out.append(sorted(objs, key=lambda o: (o["box"][1], o["box"][0])))
        return out

    def _words(self, objs: list, image: torch.Tensor) -> list:
        """Merge glyphs on one row, at most a cell (+1 px) apart, into words."""
        glyphs = sorted([o for o in objs if o["kind"] == "letter"], key=lambda o: o["box"][0])
        others = [o for o in objs if o["kind"] != "letter"]
        max_gap_limit = clearance(self.object_size) - 1
        groups = []
        for g in glyphs:
            x0, y0, x1, y1 = g["box"]
            cell = (y1 - y0) / GLYPH_HEIGHT
            max_gap = min(max_gap_limit, WORD_GAP * cell + 1)
            last = groups[-1][-1] if groups else None
            if (last is not None and abs(last["box"][1] - y0) <= 1
                    and abs((last["box"][3] - last["box"][1]) - (y1 - y0)) <= 1
                    and 0 <= x0 - last["box"][2] <= max_gap):
                groups[-1].append(g)
            else:
                groups.append([g])
        for grp in groups:
            if len(grp) == 1:
                others.append(grp[0])
                continue
            area = sum(g["area"] for g in grp)
            rgb = sum(g["rgb"] * g["area"] for g in grp) / area
            others.append({"kind": "word", "text": "".join(g["text"] for g in grp),
                           "color": _nearest_color(rgb), "size": grp[0]["size"],
                           "box": (grp[0]["box"][0], min(g["box"][1] for g in grp),
                                   grp[-1]["box"][2], max(g["box"][3] for g in grp)),
                           "area": area,
                           "agreement": round(min(g["agreement"] for g in grp), 3)})
        return others

    # ------------------------------------------------------------------ scoring
    def score(self, images: torch.Tensor, captions) -> "SceneScores":
        """Read ``images`` and score them against ``captions`` (one per image, or one str
        for all): see ``score_scenes``."""
        check_tensor("images", images, ndim=4)
        captions = check_captions(captions, images.shape[0])
        phrases = [parse_scene_caption(c) for c in captions]        # bad captions raise here
        return score_scenes(phrases, self.read(images))

    @classmethod
    def pretrained(cls, object_size: int = 32) -> "SceneReader":
        """A reader with the shipped evaluator."""
        return cls(object_size=object_size)


# --------------------------------------------------------------------------- judging
def _identity(o: dict) -> str:
    return "shape" if o["kind"] == "shape" else "text"


def _cost(want: dict, got: dict | None) -> int:
    """Wrong attributes if ``got`` stands for ``want`` (kind, identity and named ones)."""
    named = [a for a in ("shape", "text", "color", "size", "position") if a in want]
    if got is None or got["kind"] != want["kind"]:
        return 1 + len(named)
    return sum(got.get(a) != want[a] for a in named)


def match_objects(wanted: list, found: list) -> list:
    """The optimal assignment: for each wanted object the index of the found object that
    stands for it (or None), minimizing the total number of wrong attributes (ties: the
    first assignment in lexicographic order). Only the ``MAX_FOUND`` largest found objects
    are considered."""
    order = sorted(range(len(found)), key=lambda i: -found[i].get("area", 0))[:MAX_FOUND]
    slots = order + [None] * len(wanted)                   # None: left unmatched
    cost = [[_cost(w, None if i is None else found[i]) for i in slots] for w in wanted]
    best, best_cost = [None] * len(wanted), math.inf
    for perm in itertools.permutations(range(len(slots)), len(wanted)):
        c = sum(cost[k][p] for k, p in enumerate(perm))
        if c < best_cost:
            best, best_cost = [slots[p] for p in perm], c
            if c == 0:
                break
    return best


def judge_scene(phrases: list, found: list) -> dict:
    """One scene: the caption's ``phrases`` (``parse_scene_caption``) against the objects
    read (``SceneReader.read``). Returns {"objects": [correct? per wanted object],
    "attributes": {attribute: [correct? ...]}, "count_ok", "binding_error", "letters":
    [correct? per wanted letter], "words": [correct? per wanted word], "assignment"}."""
    wanted = wanted_objects(phrases)
    assignment = match_objects(wanted, found)
    got = [None if i is None else found[i] for i in assignment]
    objects = [_cost(w, g) == 0 for w, g in zip(wanted, got)]
    attributes: dict = {}
    for w, g in zip(wanted, got):
        for a in ("shape", "text", "color", "size", "position"):
            if a in w:
                ok = g is not None and g["kind"] == w["kind"] and g.get(a) == w[a]
                attributes.setdefault(a, []).append(ok)
    binding = False
    if len(wanted) > 1:
        for i, (w, g) in enumerate(zip(wanted, got)):
            if g is None or g["kind"] != w["kind"]:
                continue
            for a in BINDING_ATTRIBUTES:
                if a in w and g.get(a) != w[a] and any(
                        a in o and o[a] == g.get(a) for j, o in enumerate(wanted) if j != i):
                    binding = True
    letters, words = [], []
    for w, g in zip(wanted, got):
        if w["kind"] == "shape":
            continue
        read = g["text"] if g is not None and g["kind"] != "shape" else ""
        letters += [k < len(read) and read[k] == ch for k, ch in enumerate(w["text"])]
        if w["kind"] == "word":
            words.append(read == w["text"])
    return {"objects": objects, "attributes": attributes, "count_ok": len(found) == len(wanted),
            "binding_error": binding, "multi_object": len(wanted) > 1, "letters": letters,
            "words": words, "assignment": assignment}


@dataclass
class SceneScores:
    """What ``score_scenes`` measures (module docstring); None where nothing was asked
    (no multi-object scene, no letter, no word). ``per_scene`` holds ``judge_scene``'s
    dicts."""

    object_accuracy: float
    scene_accuracy: float
    count_accuracy: float
    binding_error_rate: float | None
    letter_accuracy: float | None
    word_accuracy: float | None
    attribute_accuracy: dict
    per_scene: list = field(repr=False, default_factory=list)

    def as_dict(self, digits: int = 3) -> dict:
        """The rates, rounded (no per-scene details)."""
        def r(v):
            return None if v is None else round(v, digits)
        return {"object_accuracy": r(self.object_accuracy),
                "scene_accuracy": r(self.scene_accuracy),
                "count_accuracy": r(self.count_accuracy),
                "binding_error_rate": r(self.binding_error_rate),
                "letter_accuracy": r(self.letter_accuracy),
                "word_accuracy": r(self.word_accuracy),
                "attribute_accuracy": {k: r(v) for k, v in self.attribute_accuracy.items()}}


def _mean(xs):
    return sum(xs) / len(xs) if xs else None


def score_scenes(phrases: list, found: list) -> SceneScores:
    """Score the objects read (``found``, one list per image) against captions given as
    phrases (one list per image): the rates of the module docstring."""
    if len(phrases) != len(found):
        raise ValueError(f"phrases has {len(phrases)} scenes but found has {len(found)}")
    if not phrases:
        raise ValueError("score_scenes needs at least one scene")
    judged = [judge_scene(p, f) for p, f in zip(phrases, found)]
    objects = [o for j in judged for o in j["objects"]]
    attrs: dict = {}
    for j in judged:
        for a, v in j["attributes"].items():
            attrs.setdefault(a, []).extend(v)
    return SceneScores(
        object_accuracy=_mean(objects),
        scene_accuracy=_mean([all(j["objects"]) and j["count_ok"] for j in judged]),
        count_accuracy=_mean([j["count_ok"] for j in judged]),
        binding_error_rate=_mean([j["binding_error"] for j in judged if j["multi_object"]]),
        letter_accuracy=_mean([x for j in judged for x in j["letters"]]),
        word_accuracy=_mean([x for j in judged for x in j["words"]]),
        attribute_accuracy={a: _mean(v) for a, v in attrs.items()},
        per_scene=judged)


def validate_reader(reader: SceneReader, n: int = 300, seed: int = 0, canvases=None,
                    **scene_kwargs) -> dict:
    """The reader's own check, like the first evaluator's: per canvas, its scores on real
    scenes (should be near 1) and on the same scenes with captions shuffled among them
    (should be near chance). ``scene_kwargs`` go to ``data.scenes.make_scenes`` (default:
    letters, counted groups and words mixed in)."""
    from ..data.glyphs import WORDS
    from ..data.scenes import CANVASES, make_scenes

    canvases = CANVASES if canvases is None else canvases
    kwargs = dict(letter_rate=0.3, group_rate=0.3, words=WORDS, word_rate=0.15)
    kwargs.update(scene_kwargs)
    out = {}
    for h, w in canvases:
        batch = make_scenes(n, seed=seed, height=h, width=w, **kwargs)
        found = reader.read(batch.images)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1)).tolist()
        out[f"{h}x{w}"] = {
            "real": score_scenes(batch.phrases, found).as_dict(),
            "shuffled": score_scenes([batch.phrases[i] for i in perm], found).as_dict()}
    return out
