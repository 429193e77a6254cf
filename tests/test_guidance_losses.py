import pytest
import torch

from diffusionlab.guidance import cfg, guided, paper_w_to_scale, rescale_guidance
from diffusionlab.losses import diffusion_loss, prior_preservation_loss, simple_loss
from diffusionlab.schedules import make_schedule


def test_cfg_limits():
    u, c = torch.randn(3, 4), torch.randn(3, 4)
    torch.testing.assert_close(cfg(u, c, 0.0), u)
    torch.testing.assert_close(cfg(u, c, 1.0), c)
    torch.testing.assert_close(cfg(u, c, 7.5), u + 7.5 * (c - u))
    # the CFG paper's w is s - 1: (1 + w) c - w u
    w = 2.0
    torch.testing.assert_close(cfg(u, c, paper_w_to_scale(w)), (1 + w) * c - w * u)


def test_rescale_matches_std_of_cond():
    c = torch.randn(2, 3, 8, 8)
    e = 5 * torch.randn(2, 3, 8, 8)
    r = rescale_guidance(e, c, 1.0)
    torch.testing.assert_close(r.std(dim=(1, 2, 3)), c.std(dim=(1, 2, 3)))
    torch.testing.assert_close(rescale_guidance(e, c, 0.0), e)


def test_guided_batches_uncond_and_cond():
    calls = []

    def model(x, t, ctx):
        calls.append(x.shape[0])
        return x * 0 + ctx.mean(dim=(1, 2)).reshape(-1, 1)
    cond, uncond = torch.ones(2, 3, 4), torch.zeros(2, 3, 4)
    f = guided(model, cond, uncond, 3.0)
    out = f(torch.randn(2, 5), torch.zeros(2, dtype=torch.long))
    assert calls == [4]
    torch.testing.assert_close(out, torch.full((2, 5), 3.0))


def test_losses():
    s = make_schedule("linear", 1000)
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    g = torch.Generator().manual_seed(0)
    loss = diffusion_loss(zero, s, torch.randn(4096, 2), "epsilon", generator=g)
    assert loss.item() == pytest.approx(1.0, abs=0.05)   # E[eps^2] = 1
    a, b = torch.tensor(0.5), torch.tensor(0.25)
    assert prior_preservation_loss(a, b, 2.0).item() == pytest.approx(1.0)
    assert simple_loss(torch.ones(3), torch.zeros(3)).item() == 1.0


def test_bad_input():
    with pytest.raises(ValueError, match="eps_uncond and eps_cond must have the same shape"):
        cfg(torch.randn(2, 3), torch.randn(2, 4), 2.0)
    with pytest.raises(TypeError, match="scale must be a number"):
        cfg(torch.randn(2), torch.randn(2), "7.5")
    with pytest.raises(ValueError, match="guidance_rescale must be <= 1"):
        rescale_guidance(torch.randn(2, 3), torch.randn(2, 3), 1.5)
    with pytest.raises(ValueError, match="prior_weight must be >= 0"):
        prior_preservation_loss(torch.tensor(1.0), torch.tensor(1.0), -1)
