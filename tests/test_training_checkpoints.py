import json

import pytest
import torch

from diffusionlab.checkpoints import load_checkpoint, save_checkpoint
from diffusionlab.data.toy2d import TOYS, sample_toy, toy_modes
from diffusionlab.metrics import sliced_wasserstein, toy_quality
from diffusionlab.nn.mlp import ToyDenoiser
from diffusionlab.training import EMA, fit


def test_fit_reduces_loss_and_ema_lags():
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    x = torch.randn(256, 2)
    y = x @ torch.tensor([[2.0], [-1.0]])
    res = fit(model, lambda m, s: ((m(x) - y) ** 2).mean(), 300, lr=0.05, ema_decay=0.9,
              progress=False)
    assert res.losses[-1] < 0.01 * res.losses[0]
    assert not torch.equal(res.ema.model.weight, model.weight)
    torch.testing.assert_close(res.ema.model.weight, model.weight, atol=0.05, rtol=0)


def test_ema_update_rule():
    m = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(0.0)
    ema = EMA(m, decay=0.75)
    with torch.no_grad():
        m.weight.fill_(1.0)
    ema.update(m)
    assert ema.model.weight.item() == pytest.approx(0.25)


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    model = ToyDenoiser(hidden=16, layers=2)
    save_checkpoint(model, tmp_path / "ck", manifest={"steps": 1})
    back = load_checkpoint(ToyDenoiser, tmp_path / "ck")
    x, t = torch.randn(4, 2), torch.tensor([0, 1, 2, 3])
    torch.testing.assert_close(back(x, t), model(x, t))
    assert json.loads((tmp_path / "ck" / "manifest.json").read_text())["steps"] == 1
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    cfg["config"]["hidden"] = 32
    (tmp_path / "ck" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="does not fit ToyDenoiser.*shape mismatch"):
        load_checkpoint(ToyDenoiser, tmp_path / "ck")
    with pytest.raises(ValueError, match="holds a 'ToyDenoiser', not a 'Linear'"):
        load_checkpoint(torch.nn.Linear, tmp_path / "ck")
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        load_checkpoint(ToyDenoiser, tmp_path)


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="steps must be >= 1"):
        fit(torch.nn.Linear(1, 1), lambda m, s: m.weight.sum(), 0)
    with pytest.raises(FloatingPointError, match="loss became nan"):
        fit(torch.nn.Linear(1, 1), lambda m, s: m.weight.sum() * float("nan"), 3, progress=False)


@pytest.mark.parametrize("name", TOYS)
def test_toys_deterministic_and_scaled(name):
    a, b = sample_toy(name, 500, seed=3), sample_toy(name, 500, seed=3)
    assert torch.equal(a, b) and a.shape == (500, 2) and a.dtype == torch.float32
    assert 0.5 < a.std().item() < 1.6


def test_quality_floor_and_modes():
    good = sample_toy("8gaussians", 2000, seed=5)
    q = toy_quality(good, "8gaussians")
    assert q.ratio < 2.0 and q.modes_covered == 8
    collapsed = toy_modes("8gaussians")[:2].repeat(1000, 1) + 0.1 * torch.randn(2000, 2)
    q2 = toy_quality(collapsed, "8gaussians")
    assert q2.ratio > 5 and q2.modes_covered == 2
    assert sliced_wasserstein(good, good) == 0.0


@pytest.mark.slow
def test_averaged_floor_is_steadier_than_one_draw():
    """One reference draw gives a noisy floor; ``repeats`` averages it (the spread shrinks)."""
    good = sample_toy("swissroll", 2000, seed=5)
    single = torch.tensor([toy_quality(good, "swissroll", seed=s).floor for s in range(6)])
    averaged = torch.tensor([toy_quality(good, "swissroll", seed=s, repeats=6).floor
                             for s in range(6)])
    assert averaged.std() < 0.7 * single.std()
    with pytest.raises(ValueError, match="repeats"):
        toy_quality(good, "swissroll", repeats=0)


def test_toy_bad_input():
    with pytest.raises(ValueError, match="name must be one of"):
        sample_toy("spiral", 10)
    with pytest.raises(ValueError, match="n must be >= 1"):
        sample_toy("moons", 0)
    with pytest.raises(ValueError, match="x must have 2 features"):
        ToyDenoiser()(torch.randn(3, 3), torch.zeros(3, dtype=torch.long))
