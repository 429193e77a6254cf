"""Tests of the scene reader (diffusionlab/metrics/scenes.py): reading objects, matching them
to a caption, and the rates it reports; validated like the first evaluator."""
import pytest
import torch

from diffusionlab.data.glyphs import WORDS
from diffusionlab.data.scenes import CANVASES, make_scenes, parse_scene_caption, render_scenes
from diffusionlab.metrics.scenes import (SceneReader, crop_components, find_components,
                                         judge_scene, match_objects, score_scenes,
                                         validate_reader)

MIXED = dict(letter_rate=0.3, group_rate=0.3, words=WORDS, word_rate=0.15)


@pytest.fixture(scope="module")
def reader():
    return SceneReader.pretrained()


def obj(kind="shape", **kw):
    o = {"kind": kind, "color": "red", "size": "small", "position": "left", "area": 50}
    o.update(kw)
    return o


def test_binding_error_is_the_right_attributes_on_the_wrong_object():
    phrases = parse_scene_caption("a red circle and a blue square")
    swapped = [obj(shape="circle", color="blue"), obj(shape="square", color="red")]
    j = judge_scene(phrases, swapped)
    assert j["objects"] == [False, False] and j["binding_error"] and j["count_ok"]
    wrong = [obj(shape="circle", color="green"), obj(shape="square", color="blue")]
    j = judge_scene(phrases, wrong)                        # green was asked of no object
    assert j["objects"] == [False, True] and not j["binding_error"]
    right = [obj(shape="square", color="blue"), obj(shape="circle", color="red")]
    assert judge_scene(phrases, right)["objects"] == [True, True]   # order does not matter


def test_counts_extra_and_missing_objects():
    phrases = parse_scene_caption("three yellow triangles")
    tri = obj(shape="triangle", color="yellow")
    j = judge_scene(phrases, [dict(tri), dict(tri)])
    assert j["objects"].count(True) == 2 and not j["count_ok"]
    j = judge_scene(phrases, [dict(tri)] * 4)
    assert all(j["objects"]) and not j["count_ok"]
    s = score_scenes([phrases, phrases], [[dict(tri)] * 3, [dict(tri)] * 2])
    assert s.count_accuracy == 0.5 and s.object_accuracy == 5 / 6 and s.scene_accuracy == 0.5


def test_letters_and_words_are_scored_letter_by_letter():
    phrases = parse_scene_caption("the word CAT and the letter B")
    found = [obj("word", text="CAR"), obj("letter", text="B")]
    j = judge_scene(phrases, found)
    assert j["letters"] == [True, True, False, True] and j["words"] == [False]
    j = judge_scene(phrases, [obj("word", text="CA"), obj(shape="circle")])
    assert j["letters"] == [True, True, False, False]              # a shape is no letter
    s = score_scenes([phrases], [found])
    assert s.letter_accuracy == 0.75 and s.word_accuracy == 0.0


def test_matching_is_optimal_not_greedy():
    wanted = [{"kind": "shape", "shape": "circle"},
              {"kind": "shape", "shape": "circle", "color": "red"}]
    found = [obj(shape="circle", color="red", area=90), obj(shape="circle", color="blue")]
    # greedy (largest first, first wanted first) would give the red circle to wanted 0
    assert match_objects(wanted, found) == [1, 0]
    assert match_objects(wanted, found[:1]) in ([None, 0], [0, None])


def test_components_and_crops(reader):
    b = render_scenes([[{"kind": "shape", "shape": "circle", "color": "red", "size": "large",
                         "position": "top left"},
                        {"kind": "letter", "text": "Q", "color": "blue", "size": "small",
                         "position": "bottom right"}]], height=40, width=24)
    comps = find_components(b.images)
    assert comps.ids.shape == (2,) and sorted(comps.area.tolist()) == sorted(
        b.object_masks[0, :2].flatten(1).sum(1).tolist())
    crops = crop_components(b.images, comps)
    assert crops.shape == (2, 3, 32, 32)
    assert ((crops > -1).any(1).flatten(1).sum(1)).tolist() == comps.area.tolist()
    got = reader.read(b.images)[0]
    assert [(o["kind"], o.get("shape") or o["text"], o["color"], o["size"], o["position"])
            for o in got] == [("shape", "circle", "red", "large", "top left"),
                              ("letter", "Q", "blue", "small", "bottom right")]


def test_letters_close_on_a_row_are_a_word_and_apart_are_not(reader):
    word = render_scenes([[{"kind": "word", "text": "IVY", "color": "green", "size": "large"}]],
                         height=48, width=48)
    assert [(o["kind"], o["text"]) for o in reader.read(word.images)[0]] == [("word", "IVY")]
    apart = render_scenes([[{"kind": "letter", "text": t, "color": "green", "size": "large",
                             "position": p} for t, p in (("I", "left"), ("V", "center"),
                                                         ("Y", "right"))]], height=24, width=64)
    assert [(o["kind"], o["text"]) for o in reader.read(apart.images)[0]] == [
        ("letter", "I"), ("letter", "V"), ("letter", "Y")]


@pytest.mark.parametrize("height, width", CANVASES)
def test_reader_is_exact_on_real_scenes(reader, height, width):
    b = make_scenes(40, seed=21, height=height, width=width, **MIXED)
    s = reader.score(b.images, b.captions)
    assert (s.object_accuracy, s.count_accuracy, s.letter_accuracy, s.word_accuracy) == (
        1.0, 1.0, 1.0, 1.0)
    assert s.binding_error_rate == 0.0


def test_bad_reader_input_is_named(reader):
    b = make_scenes(2, seed=0)
    with pytest.raises(ValueError, match="captions has 1 entries but images has 2"):
        reader.score(b.images, ["a circle"])
    with pytest.raises(ValueError, match="images must have 3 channels"):
        reader.read(b.images[:, :1])
    with pytest.raises(ValueError, match="unknown word 'dog'"):
        reader.score(b.images, "a dog")
    with pytest.raises(ValueError, match="phrases has 1 scenes but found has 2"):
        score_scenes([[]], [[], []])


@pytest.mark.slow
def test_reader_validation_near_one_on_real_near_chance_on_shuffled(reader):
    """The figures reported for the reader (n = 300 scenes per canvas, seed 0)."""
    v = validate_reader(reader, n=300, seed=0)
    for canvas, r in v.items():
        for k in ("object_accuracy", "count_accuracy", "letter_accuracy", "word_accuracy",
                  "scene_accuracy"):
            assert r["real"][k] >= 0.99, (canvas, k, r["real"])
        assert r["shuffled"]["object_accuracy"] <= 0.05, (canvas, r["shuffled"])
        assert r["shuffled"]["letter_accuracy"] <= 0.1 and r["shuffled"]["scene_accuracy"] <= 0.02


@pytest.mark.slow
def test_reader_on_degraded_scenes(reader):
    """Scenes degraded like generated samples (the evaluator's own augmentation: noise, blur,
    contrast): shapes stay near 1, thin letters suffer most (measured, reported)."""
    from diffusionlab.recipes.evaluator import augment

    b = make_scenes(300, seed=6, **MIXED)
    x = augment(b.images, torch.Generator().manual_seed(0)).clamp(-1, 1)
    s = reader.score(x, b.captions)
    assert s.object_accuracy >= 0.95 and s.attribute_accuracy["shape"] >= 0.98
    assert s.letter_accuracy >= 0.9 and s.count_accuracy >= 0.95
