"""Sample quality of the shipped toy denoisers with the library's samplers (lessons 04-05).

These load the checkpoints from ``diffusionlab/weights/`` and check (1) that each still meets
the scores written in its manifest, and (2) the sampler claims lessons 04 and 05 assert, on a
budget of a few seconds.
"""
import importlib

import pytest
import torch

from diffusionlab.checkpoints import load_checkpoint, read_manifest, weights_path
from diffusionlab.data.toy2d import sample_toy, toy_modes
from diffusionlab.metrics.toy2d import sliced_wasserstein
from diffusionlab.nn.mlp import ToyDenoiser
from diffusionlab.samplers import ddim_invert, sample
from diffusionlab.schedules import make_schedule

TOYS = ["toy_8gaussians", "toy_swissroll"]


@pytest.fixture(scope="module")
def schedule():
    return make_schedule("linear")


def _model(name):
    return load_checkpoint(ToyDenoiser, weights_path(name))


@pytest.mark.slow
@pytest.mark.parametrize("name", TOYS)
def test_shipped_toy_meets_its_manifest(name):
    manifest = read_manifest(weights_path(name))
    recipe = importlib.import_module(f"diffusionlab.recipes.{name}")
    scores = recipe.score(weights_path(name))
    for key, promised in manifest["scores"].items():
        got = scores[key]
        # same seeds, so only float round-off between machines may move the numbers
        assert got["sliced_w1"] <= 1.1 * promised["sliced_w1"] + 1e-3, (key, got, promised)
        assert got["floor"] == pytest.approx(promised["floor"], abs=1e-3), (key, got, promised)
    # and the promises themselves are good: 1000 DDPM steps are within 1.5x of the noise floor
    assert scores["ddpm_1000"]["ratio"] < 1.5, scores


def _sw_ratio(x, name, repeats=4):
    """Sliced Wasserstein distance to fresh data over its floor, averaged over reference sets."""
    n = x.shape[0]
    refs = [sample_toy(name, n, seed=1000 + k) for k in range(repeats)]
    floor = sum(sliced_wasserstein(sample_toy(name, n, seed=2000 + k), r, seed=k)
                for k, r in enumerate(refs))
    return sum(sliced_wasserstein(x, r, seed=k) for k, r in enumerate(refs)) / floor


@pytest.mark.slow
def test_ddim_beats_ddpm_at_few_steps_on_the_swiss_roll(schedule):
    model = _model("toy_swissroll")
    r = {eta: _sw_ratio(sample(model, schedule, (2000, 2), 10, sampler="ddim", eta=eta, seed=1,
                               progress=False), "swissroll")
         for eta in (0.0, 1.0)}
    assert r[0.0] < 0.9 * r[1.0], f"10 steps: DDIM eta=0 ratio {r[0.0]:.2f} vs eta=1 {r[1.0]:.2f}"


def test_more_ddpm_steps_give_fewer_points_between_modes(schedule):
    model = _model("toy_8gaussians")
    centres = toy_modes("8gaussians")

    def off_mode(steps):
        x = sample(model, schedule, (1000, 2), steps, sampler="ddpm", seed=1, progress=False)
        return float((torch.cdist(x, centres).min(dim=1).values > 0.3).float().mean())

    few, many = off_mode(10), off_mode(100)
    assert few > 3 * many, f"off-mode share: 10 steps {few:.3f}, 100 steps {many:.3f}"
    assert many < 0.08, many


def test_ddim_inversion_round_trip(schedule):
    model = _model("toy_8gaussians")
    x0 = sample_toy("8gaussians", 300, seed=3)
    code = ddim_invert(model, schedule, x0, 50, progress=False)
    back = sample(model, schedule, x0.shape, 50, sampler="ddim", eta=0.0, x_T=code, progress=False)
    err = float((back - x0).norm(dim=1).mean())
    assert err < 0.05, f"mean reconstruction error after DDIM inversion: {err:.3f}"
    assert 0.7 < float(code.std()) < 1.3, "inverted codes should look like N(0, I)"


def test_eta0_is_deterministic_eta1_is_not(schedule):
    model = _model("toy_8gaussians")
    x_T = torch.randn(200, 2, generator=torch.Generator().manual_seed(7))
    def run(eta, seed):
        return sample(model, schedule, (200, 2), 20, sampler="ddim", eta=eta, x_T=x_T, seed=seed,
                      progress=False)

    assert torch.equal(run(0.0, 1), run(0.0, 2))
    assert not torch.allclose(run(1.0, 1), run(1.0, 2))
