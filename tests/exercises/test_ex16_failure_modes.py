"""Graded tests for exercises/ex16_failure_modes.py (see conftest.py for how the folder is chosen)."""
import functools

import torch

from diffusionlab.data.scenes import make_scenes, render_scenes, wanted_objects
from diffusionlab.grading import expect_number
from diffusionlab.metrics.duplication import duplication_rate
from diffusionlab.metrics.scenes import SceneReader, judge_scene, match_objects, score_scenes

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "duplication_rate": ("diffusionlab.metrics.duplication.duplication_rate",
                         "diffusionlab.metrics.counting.count_objects",
                         "diffusionlab.metrics.scenes.find_components"),
    "binding_error": ("diffusionlab.metrics.scenes.judge_scene",
                      "diffusionlab.metrics.scenes.score_scenes"),
    "spelling_accuracy": ("diffusionlab.metrics.scenes.judge_scene",
                          "diffusionlab.metrics.scenes.score_scenes"),
}


@functools.lru_cache(maxsize=1)
def _reader():
    return SceneReader.pretrained()


def _shape(shape, color, size="large", position=None):
    o = {"kind": "shape", "shape": shape, "color": color, "size": size}
    if position:
        o["position"] = position
    return o


# ----------------------------------------------------------------------------- duplication
def test_duplication_rate_matches_the_library_on_real_scenes(exercise):
    ex = exercise("ex16_failure_modes")
    for seed, size in ((0, 48), (1, 64), (2, 32)):
        batch = make_scenes(40, seed=seed, height=size, num_objects=(1, 1, 2, 3), letter_rate=0.2)
        want = duplication_rate(batch.images)
        got = expect_number(f"duplication_rate(scenes at {size} px)",
                            ex.duplication_rate(batch.images), want, abs_tol=1e-9)
        assert 0.0 < got < 1.0, f"duplication_rate: {got} on a mix of 1- and 2-3-object scenes"


def test_duplication_rate_one_object_is_not_duplicated(exercise):
    ex = exercise("ex16_failure_modes")
    one = render_scenes([[_shape(s, c)] for s, c in (("circle", "red"), ("square", "blue"),
                                                      ("triangle", "green"))], height=48).images
    got = ex.duplication_rate(one)
    assert got == 0.0, f"duplication_rate: one object per image should give 0.0, got {got}"
    two = render_scenes([[_shape("circle", "red"), _shape("circle", "red")]] * 2, height=48).images
    got = ex.duplication_rate(torch.cat([one, two]))
    expect_number("duplication_rate(3 single + 2 doubled)", got, 2 / 5, abs_tol=1e-9,
                  what="share of IMAGES with more than one object, not objects per image")


def test_duplication_rate_pure_colours_are_objects(exercise):
    """A pure red object is (1, -1, -1): its brightest channel is high, its mean is not."""
    ex = exercise("ex16_failure_modes")
    imgs = render_scenes([[_shape("square", "red", position="left"),
                           _shape("circle", "blue", position="right")]], height=48).images
    expect_number("duplication_rate(a red square and a blue circle)", ex.duplication_rate(imgs),
                  1.0, what="foreground = brightest channel > threshold (images.amax(1))")


def _canvas():
    return -torch.ones(1, 3, 20, 20)


def test_duplication_rate_specks_and_min_area(exercise):
    ex = exercise("ex16_failure_modes")
    img = _canvas()
    img[0, :, 2:8, 2:8] = 0.8                          # an object, 36 px
    img[0, :, 14:16, 14:16] = 0.8                      # a 2x2 speck: 4 px
    for min_area, want in ((4, 1.0), (5, 0.0), (1, 1.0), (37, 0.0)):
        expect_number(f"duplication_rate(object + 4-px speck, min_area={min_area})",
                      ex.duplication_rate(img, min_area=min_area), want,
                      what="components with at least min_area pixels count (>=)")


def test_duplication_rate_diagonal_pixels_touch(exercise):
    """8-connectivity: pixels touching at a corner belong to one object (the diagonal edges
    of a triangle, a thin stroke)."""
    ex = exercise("ex16_failure_modes")
    img = _canvas()
    for k in range(8):
        img[0, 0, 4 + k, 4 + k] = 1.0                  # a diagonal line, 8 px
    expect_number("duplication_rate(one diagonal stroke)", ex.duplication_rate(img, min_area=2),
                  0.0, what="8-connected components: corner neighbours are one object")
    img[0, 0, 15:18, 2:5] = 1.0
    expect_number("duplication_rate(a stroke and a square)", ex.duplication_rate(img, min_area=2),
                  1.0)


def test_duplication_rate_threshold(exercise):
    ex = exercise("ex16_failure_modes")
    img = _canvas()
    img[0, :, 2:8, 2:8] = 0.8
    img[0, :, 12:18, 12:18] = -0.2                     # a dim object
    for threshold, want in ((0.0, 0.0), (-0.3, 1.0), (0.9, 0.0)):
        expect_number(f"duplication_rate(bright + dim object, threshold={threshold})",
                      ex.duplication_rate(img, threshold=threshold), want,
                      what="foreground = brightest channel > threshold")


# ----------------------------------------------------------------------------- binding
def _read_and_match(phrases_per_scene, objects_per_scene, height=40):
    images = render_scenes(objects_per_scene, height=height, seed=3, shrink_after=4).images
    found = _reader().read(images)
    out = []
    for phrases, f in zip(phrases_per_scene, found):
        wanted = wanted_objects(phrases)
        got = [None if i is None else f[i] for i in match_objects(wanted, f)]
        out.append((phrases, f, wanted, got))
    return out


def test_binding_error_on_drawn_swaps(exercise):
    ex = exercise("ex16_failure_modes")
    ask = [_shape("circle", "red", "small", "left"), _shape("square", "blue", "large", "right")]
    drawn = {
        "as asked": (ask, False),
        "colours swapped": ([dict(ask[0], color="blue"), dict(ask[1], color="red")], True),
        "shapes swapped": ([dict(ask[0], shape="square"), dict(ask[1], shape="circle")], True),
        "sizes swapped": ([dict(ask[0], size="large"), dict(ask[1], size="small")], True),
        "one colour leaked": ([dict(ask[0], color="blue"), ask[1]], True),
        "a colour nobody asked for": ([dict(ask[0], color="green"), ask[1]], False),
        "a shape nobody asked for": ([ask[0], dict(ask[1], shape="triangle")], False),
    }
    phrases = [dict(o) for o in ask]
    rows = _read_and_match([phrases] * len(drawn), [objs for objs, _ in drawn.values()])
    for (name, (_, truth)), (ph, f, wanted, got) in zip(drawn.items(), rows):
        assert judge_scene(ph, f)["binding_error"] == truth      # the test's own premise
        res = ex.binding_error(wanted, got)
        assert isinstance(res, bool), f"binding_error should return a bool, got {type(res).__name__}"
        assert res == truth, (f"binding_error: 'a small red circle at the left and a large blue "
                              f"square at the right' drawn with {name}: expected {truth}, got {res}")


def test_binding_error_matches_the_library_on_random_scenes(exercise):
    ex = exercise("ex16_failure_modes")
    truth = make_scenes(48, seed=5, height=48, num_objects=(2, 3), letter_rate=0.2)
    g = torch.Generator().manual_seed(6)
    drawn = []
    for objs in truth.objects:                   # each scene redrawn with one attribute rotated
        objs = [{k: v for k, v in o.items() if k != "box"} for o in objs]
        shapes = [o for o in objs if o["kind"] == "shape"]
        attr = ("color", "size", "shape")[int(torch.randint(3, (1,), generator=g))]
        pool = shapes if attr == "shape" else objs
        if len(pool) > 1 and torch.rand(1, generator=g) < 0.7:
            vals = [o[attr] for o in pool]
            for o, v in zip(pool, vals[1:] + vals[:1]):
                o[attr] = v
        drawn.append(objs)
    rows = _read_and_match(truth.phrases, drawn, height=48)
    want = [judge_scene(ph, f)["binding_error"] for ph, f, _, _ in rows]
    got = [ex.binding_error(w, gt) for _, _, w, gt in rows]
    assert 0.2 < sum(want) / len(want) < 0.8                      # the test's own premise
    bad = [k for k, (a, b) in enumerate(zip(got, want)) if a != b]
    assert not bad, (f"binding_error disagrees with the library on {len(bad)} of {len(want)} "
                     f"scenes, e.g. caption {truth.captions[bad[0]]!r} drawn as {drawn[bad[0]]}: "
                     f"expected {want[bad[0]]}, got {got[bad[0]]}")


def test_binding_error_edge_cases(exercise):
    ex = exercise("ex16_failure_modes")
    circle = {"kind": "shape", "shape": "circle"}                   # "a circle" (colour unnamed)
    blue_square = _shape("square", "blue")
    del blue_square["size"]
    blue_circle = _shape("circle", "blue", "small")
    cases = [
        ("unnamed colour: 'a circle and a blue square', circle drawn blue",
         [circle, blue_square], [blue_circle, _shape("square", "blue", "small")], False),
        ("a missing object (None)", [_shape("circle", "red"), _shape("square", "blue")],
         [None, _shape("square", "red")], True),
        ("positions swapped are not a binding error",
         [_shape("circle", "red", "large", "left"), _shape("square", "blue", "large", "right")],
         [_shape("circle", "red", "large", "right"), _shape("square", "blue", "large", "left")],
         False),
        ("a letter's colour on a shape",
         [{"kind": "letter", "text": "A", "color": "green"}, _shape("circle", "red")],
         [{"kind": "letter", "text": "A", "color": "green"}, _shape("circle", "green")], True),
        ("a shape found where a letter was asked: other kind, not judged",
         [{"kind": "letter", "text": "A", "color": "green"}, _shape("circle", "red")],
         [_shape("circle", "red"), _shape("circle", "red")], False),
        ("the second of three objects mis-bound",
         [_shape("circle", "red"), _shape("square", "blue"), _shape("triangle", "green")],
         [_shape("circle", "red"), _shape("square", "green"), _shape("triangle", "green")], True),
        ("the last attribute (size) mis-bound",
         [_shape("circle", "red", "small"), _shape("square", "blue", "large")],
         [_shape("circle", "red", "large"), _shape("square", "blue", "large")], True),
        ("one object: nothing to bind", [_shape("circle", "red")], [_shape("square", "blue")],
         False),
    ]
    for name, wanted, got, truth in cases:
        found = [g for g in got if g is not None]
        lib = judge_scene(wanted, found)["binding_error"] if None not in got else truth
        assert lib == truth, name                                     # the test's own premise
        res = ex.binding_error(wanted, got)
        assert res is truth or res == truth, f"binding_error, {name}: expected {truth}, got {res}"


# ----------------------------------------------------------------------------- spelling
def test_spelling_accuracy_matches_the_library_on_read_words(exercise):
    ex = exercise("ex16_failure_modes")
    asked = ["CAT", "DOG", "SUN", "BOX", "A", "Q", "CAT", "BED"]
    drawn = ["CAT", "DOT", "NUS", "BOX", "A", "O", "CAR", "BE"]
    objs = [[{"kind": "word" if len(t) > 1 else "letter", "text": t, "color": "yellow",
              "size": "small"}] for t in drawn]
    found = _reader().read(render_scenes(objs, height=32, width=40, seed=1).images)
    phrases = [[{"kind": "word" if len(t) > 1 else "letter", "text": t}] for t in asked]
    lib = score_scenes(phrases, found)
    reads = [f[0]["text"] if f else "" for f in found]
    assert reads == drawn                                             # the test's own premise
    letters, words = ex.spelling_accuracy(list(zip(asked, reads)))
    expect_number("spelling_accuracy: letter accuracy", letters, lib.letter_accuracy, rel=1e-9,
                  what="right letters at their position / all wanted letters, pooled")
    singles = [(a, r) for a, r in zip(asked, reads) if len(a) > 1]
    _, words = ex.spelling_accuracy(singles)
    expect_number("spelling_accuracy: word accuracy", words, lib.word_accuracy, rel=1e-9,
                  what="share of words read exactly")


def test_spelling_accuracy_by_hand(exercise):
    ex = exercise("ex16_failure_modes")
    cases = [
        ([("CAT", "CAT"), ("DOG", "DOT"), ("SUN", "")], (5 / 9, 1 / 3)),
        ([("ACT", "CAT")], (1 / 3, 0.0)),                    # position matters, not the set
        ([("CAT", "CATS")], (1.0, 0.0)),                     # an extra letter: not the word
        ([("HELLO", "HELLO"), ("A", "B")], (5 / 6, 0.5)),     # pooled over letters, not words
        ([("CAT", "CA")], (2 / 3, 0.0)),
        ([("BAT", "AT")], (0.0, 0.0)),                       # shifted: nothing at its place
    ]
    for pairs, (want_l, want_w) in cases:
        out = ex.spelling_accuracy(pairs)
        assert isinstance(out, tuple) and len(out) == 2, \
            f"spelling_accuracy should return (letter accuracy, word accuracy), got {out!r}"
        expect_number(f"spelling_accuracy({pairs}) letter accuracy", out[0], want_l, rel=1e-9)
        expect_number(f"spelling_accuracy({pairs}) word accuracy", out[1], want_w, rel=1e-9)
