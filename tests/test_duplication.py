"""Tests of the duplication measure (diffusionlab/metrics/duplication.py)."""
from types import SimpleNamespace

import pytest
import torch

from diffusionlab.data.scenes import render_scenes
from diffusionlab.data.shapes import make_shapes
from diffusionlab.metrics.duplication import (duplicate_spacing, duplication_rate,
                                              measure_duplication, one_object_prompts, upscaled)


def scenes(k: int, n: int, size: int) -> torch.Tensor:
    objs = [{"kind": "shape", "shape": "circle", "color": "red", "size": "small"}] * k
    return render_scenes([objs] * n, height=size, width=size, seed=0).images


def test_duplication_rate_counts_images_with_more_than_one_object():
    assert duplication_rate(make_shapes(50, seed=0).images) == 0.0
    assert duplication_rate(scenes(2, 10, 48)) == 1.0
    mixed = torch.cat([scenes(1, 3, 48), scenes(3, 1, 48)])
    assert duplication_rate(mixed) == 0.25
    with pytest.raises(ValueError, match="at least one image"):
        duplication_rate(torch.zeros(0, 3, 8, 8))


def test_measure_duplication_calls_the_pipeline_per_size():
    calls = []

    def fake_pipe(prompts, height, width, seed, progress, **kwargs):
        calls.append((len(prompts), height, width, seed, kwargs))
        k = 1 if height == 32 else 2                   # duplicates beyond 32
        return SimpleNamespace(images=scenes(k, len(prompts), height))

    prompts = one_object_prompts(10, seed=0)
    out = measure_duplication(fake_pipe, prompts, sizes=(32, 64), batch_size=4,
                              guidance_scale=2.0)
    assert out[32]["duplication_rate"] == 0.0 and out[64]["duplication_rate"] == 1.0
    assert out[64]["mean_count"] == 2.0 and out[32]["empty_rate"] == 0.0
    assert set(out[64]["by_size_word"]) <= {"small", "large"} and out[64]["counts"].shape == (10,)
    assert [c[:4] for c in calls[:3]] == [(4, 32, 32, 0), (4, 32, 32, 4), (2, 32, 32, 8)]
    assert calls[0][4] == {"guidance_scale": 2.0}
    with pytest.raises(ValueError, match="prompts must be a non-empty list"):
        measure_duplication(fake_pipe, [])


@pytest.mark.slow
def test_shipped_text2img_duplicates_beyond_its_training_size():
    """The lesson-16 measurement, small: no duplicates at the training size (32), most
    images duplicated at twice it (64)."""
    from diffusionlab.pipelines import TextToImage

    pipe = TextToImage.pretrained()
    out = measure_duplication(pipe, one_object_prompts(32, seed=0), sizes=(32, 64))
    assert out[32]["duplication_rate"] <= 0.05
    assert out[64]["duplication_rate"] >= 0.5


def test_measure_duplication_with_a_reader_scores_the_scene():
    from diffusionlab.metrics.scenes import SceneReader

    def fake_pipe(prompts, height, width, seed, progress, **kwargs):
        objs = [[{"kind": "shape", "shape": "circle", "color": "red", "size": "small",
                  "position": "top left"}]]
        if height == 64:
            objs = [[objs[0][0], dict(objs[0][0], position="bottom right")]]
        return SimpleNamespace(images=render_scenes(objs * len(prompts), height=height,
                                                    width=width).images)

    out = measure_duplication(fake_pipe, ["a small red circle at the top left"] * 3,
                              sizes=(32, 64), reader=SceneReader.pretrained())
    assert out[32]["scene_accuracy"] == 1.0 and out[32]["object_accuracy"] == 1.0
    assert out[64]["scene_accuracy"] == 0.0 and out[64]["object_accuracy"] == 1.0


def test_measure_duplication_takes_height_width_pairs():
    calls = []

    def fake_pipe(prompts, height, width, seed, progress, **kwargs):
        calls.append((height, width))
        return SimpleNamespace(images=render_scenes(
            [[{"kind": "shape", "shape": "circle", "color": "red", "size": "small"}]] * len(prompts),
            height=height, width=width).images)

    out = measure_duplication(fake_pipe, one_object_prompts(3), sizes=(32, (24, 40)))
    assert set(out) == {32, (24, 40)} and calls == [(32, 32), (24, 40)]
    assert out[(24, 40)]["duplication_rate"] == 0.0
    with pytest.raises(ValueError, match="height, width"):
        measure_duplication(fake_pipe, one_object_prompts(3), sizes=((24, 40, 3),))


def test_duplicate_spacing_measures_the_distance_between_copies():
    objs = [{"kind": "shape", "shape": "square", "color": "red", "size": "small", "position": p}
            for p in ("top left", "top right")]
    two = render_scenes([objs], height=64).images
    one = render_scenes([objs[:1]], height=64).images
    d = duplicate_spacing(torch.cat([one, two]))
    assert d.shape == (1,)                                  # only the duplicated image
    x = [(b[0] + b[2]) / 2 for b in render_scenes([objs], height=64).boxes[0, :2].tolist()]
    assert abs(float(d[0]) - abs(x[1] - x[0])) < 1.0         # same row: the column distance
    assert duplicate_spacing(one).numel() == 0


def test_upscaled_samples_at_the_native_size_and_resizes():
    asked = []

    def fake_pipe(prompts, height, width, **kwargs):
        asked.append((height, width))
        return SimpleNamespace(images=scenes(1, len(prompts), 32))

    fix = upscaled(fake_pipe, 32, 32)
    out = fix(["a red circle"] * 2, height=64, width=48, seed=0)
    assert asked == [(32, 32)] and out.images.shape == (2, 3, 64, 48)
    assert out.images.min() >= -1 and out.images.max() <= 1
    assert duplication_rate(out.images) == 0.0
    with pytest.raises(ValueError, match="mode"):
        upscaled(fake_pipe, mode="lanczos")
