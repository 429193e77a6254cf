"""Graded tests for exercises/ex03_noise_prediction.py (conftest.py chooses the folder)."""
import pytest
import torch

from diffusionlab import forward, parameterization
from diffusionlab.grading import expect_close, expect_tensor
from diffusionlab.losses import simple_loss
from diffusionlab.schedules import make_schedule

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "x0_from_eps": ("diffusionlab.parameterization.x0_from_eps",
                    "diffusionlab.parameterization.split_prediction"),
    "v_target": ("diffusionlab.parameterization.v_from_x0_eps",
                 "diffusionlab.parameterization.training_target"),
    "training_loss": ("diffusionlab.parameterization.training_target",
                      "diffusionlab.losses.diffusion_loss"),
}

SCHEDULE = make_schedule("linear")
TYPES = ("epsilon", "sample", "v_prediction")


def _batch(dtype=torch.float64):
    x0 = torch.randn(5, 2, 4, 4, dtype=dtype)
    t = torch.tensor([0, 10, 400, 900, 999])
    return x0, t, torch.randn(5, 2, 4, 4, dtype=dtype)


class TinyModel(torch.nn.Module):
    """A fixed little 'network': w x_t + b t/T, enough to compare losses and gradients."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(0.7))
        self.b = torch.nn.Parameter(torch.tensor(0.3))

    def forward(self, x_t, t):
        return self.w * x_t + self.b * (t.to(x_t.dtype) / 1000).reshape(-1, *[1] * (x_t.ndim - 1))


def test_x0_from_eps(exercise):
    ex = exercise("ex03_noise_prediction")
    x0, t, noise = _batch()
    x_t = forward.q_sample(SCHEDULE, x0, t, noise)
    eps = torch.randn_like(x0)
    expect_close("x0_from_eps", ex.x0_from_eps(SCHEDULE, x_t, t, eps),
                 parameterization.x0_from_eps(SCHEDULE, x_t, t, eps),
                 "(x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)", t=t)
    expect_close("x0_from_eps (given the true noise)", ex.x0_from_eps(SCHEDULE, x_t, t, noise), x0,
                 "exactly x0 when eps is the noise that made x_t", t=t)


def test_v_target(exercise):
    ex = exercise("ex03_noise_prediction")
    x0, t, noise = _batch()
    expect_close("v_target", ex.v_target(SCHEDULE, x0, t, noise),
                 parameterization.v_from_x0_eps(SCHEDULE, x0, t, noise),
                 "sqrt(abar_t) eps - sqrt(1 - abar_t) x0", t=t)


def test_v_target_has_unit_variance_at_every_t(exercise):
    ex = exercise("ex03_noise_prediction")
    x0, noise = torch.randn(4, 20000), torch.randn(4, 20000)
    t = torch.tensor([0, 300, 700, 999])
    v = expect_tensor("v_target", ex.v_target(SCHEDULE, x0, t, noise), x0.shape)
    for i, step in enumerate(t.tolist()):
        assert abs(v[i].var().item() - 1) < 0.05, \
            f"v_target: for unit-variance x0 and eps, v should have variance 1 at every t; " \
            f"got {v[i].var().item():.2f} at t={step}"


@pytest.mark.parametrize("prediction_type", TYPES)
def test_training_loss_matches_eq14(exercise, prediction_type):
    ex = exercise("ex03_noise_prediction")
    x0, t, noise = _batch(torch.float32)
    model = TinyModel()
    got = ex.training_loss(model, SCHEDULE, x0, t, noise, prediction_type)
    x_t = forward.q_sample(SCHEDULE, x0, t, noise)
    target = parameterization.training_target(SCHEDULE, x0, noise, t, prediction_type)
    want = simple_loss(model(x_t, t), target)
    got = expect_tensor(f"training_loss ({prediction_type})", got)
    assert got.numel() == 1 and got.ndim == 0, \
        f"training_loss should return a 0-d tensor (one number), got shape {tuple(got.shape)}"
    expect_close(f"training_loss ({prediction_type})", got, want,
                 f"the mean squared error between model(x_t, t) and the {prediction_type} target")


@pytest.mark.parametrize("prediction_type", TYPES)
def test_training_loss_of_a_perfect_model_is_zero(exercise, prediction_type):
    """A model that outputs exactly the right target must get loss 0 (and must see x_t and t)."""
    ex = exercise("ex03_noise_prediction")
    x0, t, noise = _batch(torch.float32)
    x_t_true = forward.q_sample(SCHEDULE, x0, t, noise)
    target = parameterization.training_target(SCHEDULE, x0, noise, t, prediction_type)
    seen = {}

    def oracle(x_t, t_in):
        seen["x_t"], seen["t"] = x_t, t_in
        return target.clone()

    loss = expect_tensor(f"training_loss ({prediction_type})",
                         ex.training_loss(oracle, SCHEDULE, x0, t, noise, prediction_type))
    assert "x_t" in seen, "training_loss never called model(x_t, t)"
    expect_close("training_loss: the x_t given to the model", seen["x_t"], x_t_true,
                 "sqrt(abar_t) x0 + sqrt(1 - abar_t) noise (DDPM eq. 4)", t=t)
    assert torch.equal(torch.as_tensor(seen["t"]).reshape(-1), t), \
        f"training_loss should call model(x_t, t) with the timesteps t={t.tolist()}, " \
        f"got {seen['t']!r}"
    assert loss.abs().item() < 1e-10, \
        f"training_loss: a model that outputs exactly the {prediction_type!r} target should get " \
        f"loss 0, got {loss.item():.3g} (is the target right?)"


def test_training_loss_lets_gradients_through(exercise):
    ex = exercise("ex03_noise_prediction")
    x0, t, noise = _batch(torch.float32)
    mine, ref = TinyModel(), TinyModel()
    loss = expect_tensor("training_loss",
                         ex.training_loss(mine, SCHEDULE, x0, t, noise, "v_prediction"))
    assert loss.requires_grad, \
        "training_loss: the loss carries no gradient (did you use .item(), .detach() or no_grad?)"
    loss.backward()
    target = parameterization.training_target(SCHEDULE, x0, noise, t, "v_prediction")
    simple_loss(ref(forward.q_sample(SCHEDULE, x0, t, noise), t), target).backward()
    for name in ("w", "b"):
        g = getattr(mine, name).grad
        assert g is not None, f"training_loss: no gradient reached the model's parameter {name}"
        expect_close(f"training_loss: gradient of {name}", g, getattr(ref, name).grad,
                     "the gradient of the mean squared error")


def test_training_loss_rejects_unknown_prediction_type(exercise):
    ex = exercise("ex03_noise_prediction")
    x0, t, noise = _batch(torch.float32)
    try:
        ex.training_loss(TinyModel(), SCHEDULE, x0, t, noise, "noise")
    except ValueError:
        return
    except NotImplementedError:
        raise
    except Exception as err:
        raise AssertionError(f"training_loss(prediction_type='noise') should raise ValueError, "
                             f"got {type(err).__name__}") from None
    raise AssertionError("training_loss(prediction_type='noise') should raise ValueError, "
                         "it returned a value")
