"""Tests of the shapes evaluator, the course's FID and object counting."""
import json
from collections import deque

import pytest
import torch

from diffusionlab.checkpoints import load_checkpoint, save_checkpoint
from diffusionlab.data.shapes import ATTRIBUTES, make_shapes, render
from diffusionlab.metrics import (ShapesEvaluator, component_labels, count_objects, fid_floor,
                                  frechet_distance)

FRESH = 424_242                       # far from the training seeds (>= 10,000,000)


@pytest.fixture(scope="module")
def ev():
    return ShapesEvaluator.pretrained()


@pytest.fixture(scope="module")
def fresh():
    return make_shapes(300, seed=FRESH)


def test_shipped_evaluator_reads_fresh_scenes(ev, fresh):
    assert ev.prompt_accuracy(fresh.images, fresh.captions) >= 0.99
    acc = ev.attribute_accuracy(fresh.images, fresh.captions)
    assert set(acc) == set(ATTRIBUTES) and min(acc.values()) >= 0.99
    pred = ev.predict(fresh.images[:20])
    assert pred == fresh.attributes[:20]
    labels = ev.predict_labels(fresh.images)
    assert all(labels[k].dtype == torch.long and labels[k].shape == (300,) for k in ATTRIBUTES)


def test_shuffled_captions_score_far_lower(ev, fresh):
    perm = torch.randperm(300, generator=torch.Generator().manual_seed(0)).tolist()
    shuffled = [fresh.captions[i] for i in perm]
    assert ev.prompt_accuracy(fresh.images, shuffled) < 0.1


def test_partial_captions_are_judged_only_on_what_they_name(ev):
    b = make_shapes(200, seed=FRESH + 1, caption_style="partial")
    assert ev.prompt_accuracy(b.images, b.captions) >= 0.99
    assert ev.prompt_accuracy(b.images, [""] * 200) == 1.0            # "" names nothing
    acc = ev.attribute_accuracy(b.images[:1], ["a circle"] if b.attributes[0]["shape"]
                                == "circle" else ["a square"])
    assert set(acc) == {"shape"}


def test_wrong_caption_is_caught(ev):
    img = render([{"shape": "circle", "color": "red", "size": "large", "position": "center"}])
    assert ev.prompt_accuracy(img.images, ["a large red circle in the center"]) == 1.0
    for wrong in ("a blue circle", "a square", "a small shape", "a red circle at the top"):
        assert ev.prompt_accuracy(img.images, [wrong]) == 0.0, wrong
    verdict = ev.judge(img.images.repeat(2, 1, 1, 1), ["a blue circle", "a large shape"])
    assert verdict == [{"color": False, "shape": True}, {"size": True}]


def test_evaluator_survives_mild_degradation(ev, fresh):
    g = torch.Generator().manual_seed(3)
    noisy = fresh.images + 0.1 * torch.randn(fresh.images.shape, generator=g)
    assert ev.prompt_accuracy(noisy, fresh.captions) >= 0.95


def test_bigger_images_are_resized(ev):
    b = make_shapes(100, seed=FRESH + 2, image_size=64)
    assert ev.prompt_accuracy(b.images, b.captions) >= 0.9


@pytest.mark.slow
def test_features_and_fid(ev, fresh):
    f = ev.features(fresh.images)
    c = ev.config["channels"]
    assert f.shape == (300, 12 * c + ev.config["feature_dim"]) and torch.isfinite(f).all()
    assert ev.penultimate(fresh.images).shape == (300, ev.config["feature_dim"])
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)
    floor = fid_floor(ev, n=300, seed=FRESH + 3)
    other = make_shapes(300, seed=FRESH + 5)                          # independent of `fresh`
    assert ev.fid(fresh.images, other.images) < 2 * floor
    circles = render([dict(a, shape="circle") for a in other.attributes], seed=1).images
    assert ev.fid(fresh.images, circles) > 3 * floor                  # a dropped mode shows
    blurred = torch.nn.functional.avg_pool2d(other.images, 3, stride=1, padding=1,
                                             count_include_pad=False)
    assert ev.fid(fresh.images, blurred) > 1.5 * floor                # so does blur
    noisy = other.images + 0.3 * torch.randn(other.images.shape,
                                             generator=torch.Generator().manual_seed(0))
    assert ev.fid(fresh.images, noisy) > 1.5 * floor                  # and strong noise


def test_calibrate_standardizes_the_fid_features():
    model = ShapesEvaluator(channels=4, feature_dim=8)
    real = make_shapes(200, seed=FRESH + 6).images
    model.calibrate(real)
    f = model.features(real)
    alive = model.feature_weight > 0
    assert torch.allclose(f.mean(0), torch.zeros(f.shape[1]), atol=1e-4)
    assert torch.allclose(f[:, alive].std(0), torch.ones(int(alive.sum())), atol=1e-3)
    assert (f[:, ~alive] == 0).all()                                  # dead units are dropped
    with pytest.raises(ValueError, match="at least 2 images"):
        model.calibrate(real[:1])


def test_frechet_distance_matches_an_independent_computation():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 5, generator=g) @ torch.randn(5, 5, generator=g)
    b = torch.randn(300, 5, generator=g) * 2 + 1
    mu_a, mu_b = a.double().mean(0), b.double().mean(0)
    ca, cb = torch.cov(a.double().T), torch.cov(b.double().T)
    eigvals = torch.linalg.eigvals(ca @ cb)                # tr sqrt(Ca Cb) = sum sqrt(eig)
    expected = ((mu_a - mu_b) ** 2).sum() + ca.trace() + cb.trace() - 2 * eigvals.sqrt().real.sum()
    assert frechet_distance(a, b) == pytest.approx(float(expected), rel=1e-6)
    # 1-D Gaussians: d^2 = (m1 - m2)^2 + (s1 - s2)^2
    x = torch.randn(20000, 1, generator=g)
    m, v = float(x.mean()), float(x.var())                            # y = 3x + 2: mean 3m + 2,
    expected = (2 + 2 * m) ** 2 + (3 * v ** 0.5 - v ** 0.5) ** 2       # std 3 s
    assert frechet_distance(x, 3 * x + 2) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_bad_inputs():
    with pytest.raises(ValueError, match="same feature size"):
        frechet_distance(torch.randn(10, 3), torch.randn(10, 4))
    with pytest.raises(ValueError, match="at least 2 rows"):
        frechet_distance(torch.randn(1, 3), torch.randn(10, 3))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(torch.full((5, 3), float("nan")), torch.randn(10, 3))


def _bfs_count(mask):
    """Independent 8-connected component count, for one (H, W) bool mask."""
    h, w = mask.shape
    seen = torch.zeros_like(mask)
    count = 0
    for y in range(h):
        for x in range(w):
            if mask[y, x] and not seen[y, x]:
                count += 1
                seen[y, x] = True
                queue = deque([(y, x)])
                while queue:
                    cy, cx = queue.popleft()
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            ny, nx = cy + dy, cx + dx
                            if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                                seen[ny, nx] = True
                                queue.append((ny, nx))
    return count


def test_component_labels_match_a_breadth_first_search():
    m = torch.rand(4, 30, 30, generator=torch.Generator().manual_seed(0)) > 0.6
    labels = component_labels(m)
    assert ((labels > 0) == m).all()
    for i in range(4):
        assert len(labels[i][labels[i] > 0].unique()) == _bfs_count(m[i])
    four = component_labels(m, connectivity=4)
    assert len(four[four > 0].unique()) > len(labels[labels > 0].unique())


def test_count_objects_single_and_pasted_pairs():
    b = make_shapes(100, seed=FRESH + 4)
    assert (count_objects(b.images) == 1).all()
    corners = [("top left", "bottom right"), ("top", "bottom"), ("left", "right")]
    pairs = []
    for (p, q), s in zip(corners, ("circle", "square", "triangle")):
        two = render([{"shape": s, "color": "red", "size": "small", "position": p},
                      {"shape": "circle", "color": "blue", "size": "small", "position": q}])
        pairs.append(torch.maximum(two.images[0], two.images[1]))  # paste both on one canvas
    assert count_objects(torch.stack(pairs)).tolist() == [2, 2, 2]
    blank = -torch.ones(1, 3, 32, 32)
    assert count_objects(blank).tolist() == [0]
    speck = blank.clone()
    speck[0, :, 3, 3] = 1.0                                           # one bright pixel
    assert count_objects(speck).tolist() == [0]
    assert count_objects(speck, min_area=1).tolist() == [1]


def test_count_objects_any_image_size():
    tiled = torch.cat([make_shapes(2, seed=5, image_size=32).images[i] for i in range(2)], -1)
    assert tiled.shape == (3, 32, 64)
    assert count_objects(tiled[None]).tolist() == [2]
    big = make_shapes(5, seed=6, image_size=80)
    assert (count_objects(big.images) == 1).all()


def test_checkpoint_config_mismatch_is_a_clear_error(tmp_path):
    save_checkpoint(ShapesEvaluator(channels=8), tmp_path)
    assert load_checkpoint(ShapesEvaluator, tmp_path).config["channels"] == 8
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["config"]["channels"] = 16
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="does not fit ShapesEvaluator.*shape mismatch"):
        load_checkpoint(ShapesEvaluator, tmp_path)
    cfg["config"]["depth"] = 3
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="does not fit ShapesEvaluator"):
        load_checkpoint(ShapesEvaluator, tmp_path)


def test_evaluator_bad_inputs(ev, fresh):
    with pytest.raises(ValueError, match="captions has 2 entries but images has 300"):
        ev.prompt_accuracy(fresh.images, ["a circle", "a square"])
    with pytest.raises(ValueError, match="3 channels"):
        ev.predict(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="unknown word 'dog'"):
        ev.prompt_accuracy(fresh.images[:1], ["a dog"])
    with pytest.raises(ValueError, match="multiple of 8"):
        ShapesEvaluator(image_size=20)
