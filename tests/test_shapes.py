"""Tests of the captioned shapes world (diffusionlab/data/shapes.py)."""
import itertools

import pytest
import torch

from diffusionlab.data.shapes import (ATTRIBUTES, COLORS, POSITIONS, SHAPES, SIZES, ShapesBatch,
                                      ShapesDataset, caption_for, make_shapes, parse_caption,
                                      render)


def test_make_shapes_is_deterministic_by_seed():
    a, b = make_shapes(50, seed=7, caption_style="mixed"), make_shapes(50, seed=7,
                                                                      caption_style="mixed")
    c = make_shapes(50, seed=8, caption_style="mixed")
    assert torch.equal(a.images, b.images) and a.captions == b.captions
    assert not torch.equal(a.images, c.images)


def test_shapes_ranges_and_dtypes():
    b = make_shapes(40, seed=1, image_size=24)
    assert isinstance(b, ShapesBatch) and len(b) == 40
    assert b.images.shape == (40, 3, 24, 24) and b.images.dtype == torch.float32
    assert b.masks.shape == b.edges.shape == (40, 1, 24, 24)
    assert b.images.min() >= -1 and b.images.max() <= 1
    assert set(b.masks.unique().tolist()) <= {0.0, 1.0}
    assert set(b.edges.unique().tolist()) <= {0.0, 1.0}
    for k, v in ATTRIBUTES.items():
        assert b.labels[k].dtype == torch.long and b.labels[k].shape == (40,)
        assert [v[i] for i in b.labels[k].tolist()] == [a[k] for a in b.attributes]


def test_pixels_are_background_or_the_named_colour():
    b = make_shapes(30, seed=2)
    for i, a in enumerate(b.attributes):
        rgb = torch.tensor(COLORS[a["color"]]) * 2 - 1
        inside = b.masks[i, 0].bool()
        assert torch.allclose(b.images[i][:, inside], rgb[:, None].expand(-1, int(inside.sum())))
        assert (b.images[i][:, ~inside] == -1).all()


def test_masks_cover_the_object_and_edges_lie_on_the_mask():
    b = make_shapes(60, seed=3)
    foreground = (b.images > -1).any(1, keepdim=True).float()
    assert torch.equal(foreground, b.masks)
    assert (b.edges <= b.masks).all()                                 # outline inside the mask
    assert (b.edges.sum((1, 2, 3)) > 0).all()
    assert (b.edges.sum((1, 2, 3)) < b.masks.sum((1, 2, 3))).all()    # not the whole mask
    # every edge pixel has a background pixel (or the border) in its 3x3 neighbourhood
    padded = torch.nn.functional.pad(b.masks, (1, 1, 1, 1), value=0.0)
    eroded = -torch.nn.functional.max_pool2d(-padded, 3, stride=1)
    assert (eroded[b.edges.bool()] == 0).all()


def test_size_and_position_are_visible_in_the_mask():
    attrs = [{"shape": s, "color": "red", "size": z, "position": p}
             for s in SHAPES for z in SIZES for p in POSITIONS]
    b = render(attrs, image_size=32, seed=0)
    area = b.masks.sum((1, 2, 3))
    for s in SHAPES:                                                  # large clearly larger
        small = [area[i] for i, a in enumerate(attrs) if a["shape"] == s and a["size"] == "small"]
        large = [area[i] for i, a in enumerate(attrs) if a["shape"] == s and a["size"] == "large"]
        assert min(large) > 2.5 * max(small), s
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    cy = (b.masks[:, 0] * ys).sum((1, 2)) / area
    cx = (b.masks[:, 0] * xs).sum((1, 2)) / area
    for i, a in enumerate(attrs):
        row, col = divmod(POSITIONS.index(a["position"]), 3)
        assert abs(cx[i] - (8.78, 15.5, 22.22)[col]) < 2.5, (a, float(cx[i]))
        assert abs(cy[i] - (8.78, 15.5, 22.22)[row]) < 3.5, (a, float(cy[i]))


def test_render_draws_the_given_attributes_with_full_captions():
    attrs = [{"shape": "triangle", "color": "blue", "size": "large", "position": "center"},
             {"shape": "circle", "color": "yellow", "size": "small", "position": "top left"}]
    b = render(attrs, seed=4)
    assert b.attributes == attrs
    assert b.captions == ["a large blue triangle in the center",
                          "a small yellow circle at the top left"]
    assert torch.equal(render(attrs, seed=4).images, b.images)


def test_full_caption_grammar():
    a = {"shape": "circle", "color": "red", "size": "small", "position": "top left"}
    assert caption_for(a) == "a small red circle at the top left"
    assert caption_for(dict(a, position="center")) == "a small red circle in the center"
    assert caption_for(a, keep=("shape",)) == "a circle"
    assert caption_for(a, keep=("color",)) == "a red shape"
    assert caption_for(a, keep=()) == ""
    assert parse_caption("something red") == {"color": "red"}
    assert parse_caption("A Triangle at the top.") == {"shape": "triangle", "position": "top"}
    assert parse_caption("") == {}


def test_caption_round_trip_for_every_subset():
    for a in make_shapes(30, seed=5).attributes:
        for k in range(5):
            for keep in itertools.combinations(ATTRIBUTES, k):
                assert parse_caption(caption_for(a, keep)) == {x: a[x] for x in keep}


def test_partial_and_mixed_captions():
    full = make_shapes(200, seed=6, caption_style="full")
    part = make_shapes(200, seed=6, caption_style="partial")
    mixed = make_shapes(200, seed=6, caption_style="mixed")
    assert all(len(parse_caption(c)) == 4 for c in full.captions)
    named = [len(parse_caption(c)) for c in part.captions]
    assert min(named) >= 1 and max(named) <= 3 and len(set(named)) == 3
    n_full = sum(len(parse_caption(c)) == 4 for c in mixed.captions)
    assert 60 < n_full < 140                                          # about half
    for cap, a in zip(part.captions, part.attributes):              # captions tell the truth
        assert all(a[k] == v for k, v in parse_caption(cap).items())


def test_dataset_items():
    ds = ShapesDataset(12, seed=3)
    item = ds[5]
    assert len(ds) == 12 and item["image"].shape == (3, 32, 32)
    assert item["mask"].shape == item["edge"].shape == (1, 32, 32)
    assert isinstance(item["caption"], str)
    assert set(item["labels"]) == set(ATTRIBUTES)
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, 32, 32) and batch["labels"]["color"].shape == (4,)
    with pytest.raises(IndexError, match="out of range"):
        ds[12]


def test_ten_thousand_images_render_quickly():
    import time
    start = time.perf_counter()
    make_shapes(10_000, seed=0)
    assert time.perf_counter() - start < 10                          # loose: shared CPUs


def test_bad_inputs():
    with pytest.raises(ValueError, match="n must be >= 1"):
        make_shapes(0)
    with pytest.raises(TypeError, match="n must be an int"):
        make_shapes(2.5)
    with pytest.raises(ValueError, match="image_size must be >= 16"):
        make_shapes(4, image_size=8)
    with pytest.raises(ValueError, match="caption_style must be one of"):
        make_shapes(4, caption_style="short")
    with pytest.raises(ValueError, match=r"attributes\[0\]\['color'\] must be one of"):
        render([{"shape": "circle", "color": "pink", "size": "small", "position": "top"}])
    with pytest.raises(ValueError, match="has no 'position'"):
        render([{"shape": "circle", "color": "red", "size": "small"}])
    with pytest.raises(ValueError, match="unknown word 'dog'"):
        parse_caption("a red dog")
    with pytest.raises(ValueError, match="two colors"):
        parse_caption("a red blue circle")
    with pytest.raises(ValueError, match="keep entry must be one of"):
        caption_for({"shape": "circle"}, keep=("texture",))
