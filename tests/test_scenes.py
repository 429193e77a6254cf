"""Tests of the wider world's scenes (diffusionlab/data/scenes.py)."""
import random

import pytest
import torch
import torch.nn.functional as F

from diffusionlab.data.glyphs import LETTERS, TRAIN_WORDS, WORDS
from diffusionlab.data.scenes import (CANVASES, CLEARANCE, COUNT_WORDS, MAX_CAPTION_WORDS,
                                      MAX_OBJECTS, PLURALS,
                                      SCENE_WORDS, SceneBatch, ScenesDataset, make_scenes,
                                      parse_scene_caption, position_of, render_scenes,
                                      scene_caption, wanted_objects)
from diffusionlab.data.shapes import CAPTION_WORDS, COLORS, POSITIONS, SHAPES, SIZES
from diffusionlab.metrics.counting import component_labels

MIXED = dict(letter_rate=0.3, group_rate=0.3, words=WORDS, word_rate=0.15)


def random_phrases(rng: random.Random) -> list:
    """A random caption as phrases: 1 to 3 objects in all, any kinds, any named subset."""
    phrases, total = [], rng.randint(1, MAX_OBJECTS)
    while total > 0:
        kind = rng.choice(["shape", "shape", "letter", "word"])
        count = rng.randint(2, total) if kind == "shape" and total > 1 and rng.random() < 0.3 else 1
        p = {"kind": kind, "count": count}
        if kind == "shape":
            p["shape"] = rng.choice(SHAPES)
        elif kind == "letter":
            p["text"] = rng.choice(LETTERS)
        else:
            p["text"] = rng.choice(WORDS)
        for key, values in (("color", list(COLORS)), ("size", SIZES), ("position", POSITIONS)):
            if rng.random() < 0.5 and not (key == "position" and count > 1):
                p[key] = rng.choice(values)
        phrases.append(p)
        total -= count
    return phrases


def test_caption_round_trip_on_thousands_of_captions():
    rng = random.Random(0)
    seen = set()
    for _ in range(5000):
        phrases = random_phrases(rng)
        caption = scene_caption(phrases)
        assert parse_scene_caption(caption) == phrases, caption
        assert parse_scene_caption(caption.lower()) == phrases        # a tokenizer lowercases
        seen.add(caption)
    assert len(seen) > 4000


def test_caption_examples_from_the_issue():
    assert parse_scene_caption("a red circle at the left and a small blue square at the top "
                               "right") == [
        {"kind": "shape", "count": 1, "shape": "circle", "color": "red", "position": "left"},
        {"kind": "shape", "count": 1, "shape": "square", "color": "blue", "size": "small",
         "position": "top right"}]
    assert parse_scene_caption("three yellow triangles") == [
        {"kind": "shape", "count": 3, "shape": "triangle", "color": "yellow"}]
    assert parse_scene_caption("the letter A in green") == [
        {"kind": "letter", "count": 1, "text": "A", "color": "green"}]
    assert parse_scene_caption("the word cat, a circle and the letter a") == [
        {"kind": "word", "count": 1, "text": "CAT"}, {"kind": "shape", "count": 1,
                                                      "shape": "circle"},
        {"kind": "letter", "count": 1, "text": "A"}]
    assert len(wanted_objects(parse_scene_caption("two circles and a square"))) == 3


@pytest.mark.parametrize("caption, message", [
    ("a red circle and a dog", "unknown word 'dog'"),
    ("two circle", "a count needs a plural noun"),
    ("a circles", "a count needs a plural noun"),
    ("three circles and a square", "names 4 objects"),
    ("the letter", "must be followed by its text"),
    ("the letter AB", "one letter A to Z"),
    ("and a circle", "empty phrase"),
    ("a red blue circle", "names two colors"),
    ("", "names no object"),
    ("red", "every phrase names a shape, a letter or a word"),
    ("the letter A circle", "names a shape and a letter"),
])
def test_bad_captions_are_explained(caption, message):
    with pytest.raises(ValueError, match=message):
        parse_scene_caption(caption)


def test_scene_words_cover_every_caption_but_word_texts():
    assert set(CAPTION_WORDS) <= set(SCENE_WORDS)
    assert {"and", "letter", "word", "two", "three", "circles", "a", "z"} <= set(SCENE_WORDS)
    assert set(COUNT_WORDS.values()) | set(PLURALS.values()) <= set(SCENE_WORDS)
    b = make_scenes(150, seed=4, caption_style="mixed", **MIXED)
    texts = {w.lower() for w in WORDS}
    for c in b.captions:
        words = c.lower().replace(",", " ").split()
        assert set(words) - texts <= set(SCENE_WORDS), c
    assert "cat" not in SCENE_WORDS                       # words are for a character-aware encoder


def test_make_scenes_is_deterministic_and_well_formed():
    a = make_scenes(60, seed=3, **MIXED)
    b = make_scenes(60, seed=3, **MIXED)
    c = make_scenes(60, seed=4, **MIXED)
    assert torch.equal(a.images, b.images) and a.captions == b.captions
    assert not torch.equal(a.images, c.images)
    assert isinstance(a, SceneBatch) and len(a) == 60
    assert a.images.shape == (60, 3, 32, 32) and a.images.dtype == torch.float32
    assert a.object_masks.shape == (60, MAX_OBJECTS, 32, 32) and a.boxes.shape == (60, 3, 4)
    assert a.num_objects.tolist() == [len(o) for o in a.objects]
    assert [parse_scene_caption(x) for x in a.captions] == a.phrases
    kinds = {o["kind"] for objs in a.objects for o in objs}
    assert kinds == {"shape", "letter", "word"}
    assert any(p[0]["count"] > 1 for p in a.phrases)                # counted groups occur


@pytest.mark.parametrize("height, width", CANVASES)
def test_scene_truth_is_exact_on_every_canvas(height, width):
    b = make_scenes(40, seed=1, height=height, width=width, **MIXED)
    assert b.images.shape == (40, 3, height, width)
    palette = {k: torch.tensor(v) * 2 - 1 for k, v in COLORS.items()}
    fg = (b.images > -1).any(1)
    assert torch.equal(fg, b.object_masks.any(1)) and torch.equal(fg.unsqueeze(1).float(), b.masks)
    assert (b.object_masks.sum(1) <= 1).all()                       # objects never overlap
    for i, objs in enumerate(b.objects):
        for k, o in enumerate(objs):
            m = b.object_masks[i, k]
            assert m.any()
            rgb = b.images[i][:, m]
            assert torch.allclose(rgb, palette[o["color"]][:, None].expand_as(rgb))
            ys, xs = m.nonzero(as_tuple=True)
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            assert box == o["box"] == tuple(b.boxes[i, k].tolist())
            assert o["position"] == position_of((box[0] + box[2]) / 2, (box[1] + box[3]) / 2,
                                                height, width)
            # clearance: grown by CLEARANCE - 1 px, the object meets no other object
            grown = F.max_pool2d(m.float()[None, None], 2 * CLEARANCE - 1, 1,
                                 CLEARANCE - 1)[0, 0] > 0
            others = b.object_masks[i].any(0) & ~m
            assert not (grown & others).any()
        assert (b.boxes[i, len(objs):] == -1).all()
        positions = [o["position"] for o in objs]
        assert len(set(positions)) == len(positions)                 # one cell per object


def test_caption_says_what_is_drawn():
    b = make_scenes(80, seed=2, **MIXED)
    for objs, phrases in zip(b.objects, b.phrases):
        wanted = wanted_objects(phrases)
        assert len(wanted) == len(objs)
        if phrases[0]["count"] > 1:                                   # a counted group
            assert len({(o["shape"], o["color"]) for o in objs}) == 1
            continue
        for w, o in zip(wanted, objs):
            assert all(o[k] == v for k, v in w.items()), (w, o)


def test_words_are_one_object_of_separate_letters():
    b = render_scenes([[{"kind": "word", "text": "BIG", "color": "red", "size": "large"}]],
                      height=48, width=48, seed=0)
    assert b.captions == ["the large word BIG in red at the " + b.objects[0][0]["position"]
                          if b.objects[0][0]["position"] != "center"
                          else "the large word BIG in red in the center"]
    labels = component_labels(b.object_masks[0, :1])
    assert len(torch.unique(labels[labels > 0])) == 3


def test_render_scenes_keeps_named_positions_and_objects_keep_their_pixel_size():
    objs = [[{"kind": "shape", "shape": "circle", "color": "red", "size": "small",
              "position": p}] for p in POSITIONS]
    for h, w in CANVASES:
        b = render_scenes(objs, height=h, width=w, seed=1)
        assert [o[0]["position"] for o in b.objects] == list(POSITIONS)
        area = b.masks.sum((1, 2, 3))
        assert area.min() >= 40 and area.max() <= 60                 # ~ pi 4^2 on every canvas


def test_crowded_small_canvases_shrink_large_objects_only_in_make_scenes():
    two_large = [[{"kind": "shape", "shape": "square", "color": "red", "size": "large"},
                  {"kind": "shape", "shape": "square", "color": "blue", "size": "large"}]]
    with pytest.raises(ValueError, match="could not place"):
        render_scenes(two_large, height=32, width=32, max_tries=5)
    b = render_scenes(two_large, height=32, width=32, shrink_after=10)
    assert [o["size"] for o in b.objects[0]] == ["large", "small"]
    assert "small blue square" in b.captions[0]
    assert render_scenes(two_large, height=64, width=64).objects[0][1]["size"] == "large"


def test_bad_scene_input_is_named():
    with pytest.raises(ValueError, match="letter_rate must be <= 1"):
        make_scenes(2, letter_rate=1.5)
    with pytest.raises(ValueError, match="word_rate > 0 needs words"):
        make_scenes(2, word_rate=0.5)
    with pytest.raises(ValueError, match="num_objects entry must be <= 3"):
        make_scenes(2, num_objects=4)
    with pytest.raises(ValueError, match="height must be >= 16"):
        make_scenes(2, height=8)
    with pytest.raises(ValueError, match=r"objects\[0\]\[0\]\['shape'\] must be one of"):
        render_scenes([[{"kind": "shape", "shape": "star", "color": "red", "size": "small"}]])
    with pytest.raises(ValueError, match="two objects at the same position"):
        render_scenes([[{"kind": "letter", "text": "A", "color": "red", "size": "small",
                         "position": "top"}] * 2])
    with pytest.raises(ValueError, match="does not fit"):
        render_scenes([[{"kind": "word", "text": "CAT", "color": "red", "size": "large"}]],
                      height=24, width=24)


def test_dataset_items():
    ds = ScenesDataset(10, seed=0, height=24, width=40, words=TRAIN_WORDS, word_rate=0.5)
    item = ds[3]
    assert item["image"].shape == (3, 24, 40) and isinstance(item["caption"], str)
    with pytest.raises(IndexError):
        ds[10]


@pytest.mark.slow
def test_caption_round_trip_on_thousands_of_generated_scenes():
    for h, w in CANVASES:
        b = make_scenes(1000, seed=11, height=h, width=w, caption_style="mixed", **MIXED)
        assert [parse_scene_caption(c) for c in b.captions] == b.phrases


def test_longest_caption_and_a_scenes_tokenizer():
    from diffusionlab.nn.text import build_tokenizer, unknown_words

    longest = [{"kind": "letter", "count": 1, "text": "A", "color": "red", "size": "small",
                "position": p} for p in ("top left", "top right", "bottom left")]
    caption = scene_caption(longest)
    assert len(caption.replace(",", " ").split()) == MAX_CAPTION_WORDS
    rng = random.Random(1)
    lengths = [len(scene_caption(random_phrases(rng)).replace(",", " ").split())
               for _ in range(3000)]
    assert max(lengths) <= MAX_CAPTION_WORDS
    tok = build_tokenizer(SCENE_WORDS, max_length=MAX_CAPTION_WORDS + 2)
    assert unknown_words(tok, caption) == []
    assert unknown_words(tok, "the word CAT in red and three circles") == ["CAT"]
    ids = tok(caption, padding="max_length", truncation=True)["input_ids"]
    assert len(ids) == MAX_CAPTION_WORDS + 2 and ids[-1] == tok.eos_token_id
