"""Graded tests for exercises/ex09_guidance.py (see conftest.py for how the folder is chosen)."""
import torch

from diffusionlab import guidance
from diffusionlab.grading import expect_close, expect_tensor

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "cfg": "diffusionlab.guidance.cfg",
    "rescale_guidance": "diffusionlab.guidance.rescale_guidance",
    "guided_eps": ("diffusionlab.guidance.guided", "diffusionlab.guidance.cfg"),
}


def _pair(shape=(3, 4, 8, 8), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), 1.5 * torch.randn(shape, generator=g) + 0.3


class _Recorder(torch.nn.Module):
    """A stand-in U-Net: a fixed function of (x, t, context) that counts its calls and the
    batch sizes it sees. Each sample's output depends on its own row only."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x, t, context):
        self.calls.append(x.shape[0])
        return torch.tanh(x) * (1 + t.float().view(-1, 1, 1, 1) / 1000) \
            + context.mean(dim=(1, 2)).view(-1, 1, 1, 1)


def _inputs(B=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, 4, 8, 8, generator=g)
    t = torch.tensor([999, 500, 3][:B])
    cond = torch.randn(B, 12, 16, generator=g)
    uncond = torch.randn(B, 12, 16, generator=g)
    return x, t, cond, uncond


def test_cfg_matches_the_formula(exercise):
    ex = exercise("ex09_guidance")
    u, c = _pair()
    for s in (0.0, 1.0, 3.0, 7.5):
        expect_close(f"cfg(scale={s})", ex.cfg(u.clone(), c.clone(), s), guidance.cfg(u, c, s),
                     "eps_uncond + s (eps_cond - eps_uncond)")


def test_cfg_limits(exercise):
    ex = exercise("ex09_guidance")
    u, c = _pair(seed=2)
    expect_close("cfg(scale=0)", ex.cfg(u, c, 0.0), u,
                 "eps_uncond: scale 0 is unconditional sampling")
    expect_close("cfg(scale=1)", ex.cfg(u, c, 1.0), c,
                 "eps_cond: scale 1 is plain conditional sampling (the paper's w = 0)")


def test_cfg_pushes_past_the_conditional_prediction(exercise):
    ex = exercise("ex09_guidance")
    u, c = _pair(seed=3)
    got = expect_tensor("cfg(scale=7.5)", ex.cfg(u, c, 7.5), u.shape)
    step = got - c
    expect_close("cfg(scale=7.5) - eps_cond", step, 6.5 * (c - u),
                 "6.5 (eps_cond - eps_uncond): s = 7.5 goes 6.5 times past eps_cond")


def test_rescale_matches_lin_et_al(exercise):
    ex = exercise("ex09_guidance")
    u, c = _pair(seed=4)
    e = guidance.cfg(u, c, 7.5)
    for phi in (0.0, 0.7, 1.0):
        got = ex.rescale_guidance(e.clone(), c.clone(), phi)
        expect_close(f"rescale_guidance(phi={phi})", got, guidance.rescale_guidance(e, c, phi),
                     "phi * eps_cfg std(eps_cond)/std(eps_cfg) + (1 - phi) eps_cfg (eqs. 15-16)")


def test_rescale_matches_the_conditional_std_per_sample(exercise):
    ex = exercise("ex09_guidance")
    u, c = _pair(seed=5)
    c = c * torch.tensor([0.5, 1.0, 2.0]).view(-1, 1, 1, 1)      # a different std per sample
    e = guidance.cfg(u, c, 9.0)
    got = expect_tensor("rescale_guidance(phi=1)", ex.rescale_guidance(e, c, 1.0), e.shape)
    got_std, want_std = got.flatten(1).std(1), c.flatten(1).std(1)
    assert torch.allclose(got_std, want_std, rtol=1e-4), (
        f"with phi = 1 each sample's std should equal its eps_cond's std {want_std.tolist()}, "
        f"got {got_std.tolist()} (take the std per sample: over dims 1.., not the whole batch)")
    same = ex.rescale_guidance(e, c, 0.0)
    expect_close("rescale_guidance(phi=0)", same, e, "eps_cfg unchanged: phi = 0 is no rescale")


def test_guided_eps_matches_the_library(exercise):
    ex = exercise("ex09_guidance")
    x, t, cond, uncond = _inputs()
    model = _Recorder()
    for s in (0.0, 2.0, 7.5):
        got = ex.guided_eps(model, x.clone(), t.clone(), cond.clone(), uncond.clone(), s)
        want = guidance.guided(model, cond, uncond, s)(x, t)
        expect_close(f"guided_eps(scale={s})", got, want,
                     "cfg(model(x, t, uncond), model(x, t, cond), scale)")


def test_guided_eps_uses_the_right_context_for_each_branch(exercise):
    ex = exercise("ex09_guidance")
    x, t, cond, uncond = _inputs(seed=6)
    model = _Recorder()
    got = expect_tensor("guided_eps(scale=0)", ex.guided_eps(model, x, t, cond, uncond, 0.0),
                        x.shape)
    expect_close("guided_eps(scale=0)", got, model(x, t, uncond),
                 "model(x, t, uncond): scale 0 is the unconditional (or negative-prompt) branch")


def test_guided_eps_batches_both_branches_in_one_call(exercise):
    ex = exercise("ex09_guidance")
    x, t, cond, uncond = _inputs(seed=7)
    model = _Recorder()
    ex.guided_eps(model, x, t, cond, uncond, 3.0)
    assert len(model.calls) == 1, (
        f"guided_eps should call the model once (both branches in one batch), "
        f"it called it {len(model.calls)} times")
    assert model.calls[0] == 2 * x.shape[0], (
        f"the model should see a batch of 2B = {2 * x.shape[0]} (uncond and cond stacked), "
        f"it saw {model.calls[0]}")
