import pytest
import torch

from diffusionlab.forward import q_chain, q_posterior, q_sample, q_step
from diffusionlab.schedules import make_schedule

S = make_schedule("linear", 1000)


def test_q_sample_formula():
    x0, eps = torch.randn(4, 3), torch.randn(4, 3)
    t = torch.tensor([0, 10, 500, 999])
    abar = S.alphas_cumprod[t].float()[:, None]
    torch.testing.assert_close(q_sample(S, x0, t, eps), abar.sqrt() * x0 + (1 - abar).sqrt() * eps)


def test_q_step_from_clean_equals_q_sample_at_zero():
    x0, eps = torch.randn(5, 2), torch.randn(5, 2)
    torch.testing.assert_close(q_step(S, x0, 0, eps), q_sample(S, x0, 0, eps))


def test_chain_matches_closed_form_in_distribution():
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1), 1.5)
    t = 300
    chain = q_chain(S, x0, t, generator=g)
    abar = S.alphas_cumprod[t].item()
    assert chain.mean().item() == pytest.approx(abar ** 0.5 * 1.5, abs=0.02)
    assert chain.std().item() == pytest.approx((1 - abar) ** 0.5, abs=0.02)


def test_posterior_matches_bayes_rule_numerically():
    # q(x_{t-1}|x_t,x_0) is proportional to q(x_t|x_{t-1}) q(x_{t-1}|x_0): check on a 1-D grid
    t, x0, xt = 400, torch.tensor([[0.7]]), torch.tensor([[0.2]])
    mean, var = q_posterior(S, x0, xt, t)
    beta, abar_prev = S.betas[t].item(), S.alphas_cumprod[t - 1].item()
    grid = torch.linspace(-4, 4, 200001, dtype=torch.float64)
    logp = (-(xt.item() - (1 - beta) ** 0.5 * grid) ** 2 / (2 * beta)
            - (grid - abar_prev ** 0.5 * x0.item()) ** 2 / (2 * (1 - abar_prev)))
    w = torch.softmax(logp, 0)
    m = (w * grid).sum().item()
    v = (w * (grid - m) ** 2).sum().item()
    assert mean.item() == pytest.approx(m, abs=1e-5)
    assert var.item() == pytest.approx(v, rel=1e-3)


def test_posterior_at_zero_is_x0():
    x0, xt = torch.randn(3, 2), torch.randn(3, 2)
    mean, var = q_posterior(S, x0, xt, 0)
    torch.testing.assert_close(mean, x0)
    assert float(var.abs().max()) == 0.0


def test_bad_input():
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 999\]"):
        q_sample(S, x, 1000)
    with pytest.raises(TypeError, match="t must hold integers"):
        q_sample(S, x, torch.tensor([1.5, 2.0]))
    with pytest.raises(ValueError, match="t has 3 entries but the batch has 2"):
        q_sample(S, x, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="noise and x must have the same shape"):
        q_sample(S, x, 1, torch.randn(2, 4))
    with pytest.raises(TypeError, match="schedule must be a NoiseSchedule"):
        q_sample("linear", x, 1)
    with pytest.raises(TypeError, match="x0 must be a floating-point tensor"):
        q_sample(S, torch.ones(2, 3, dtype=torch.long), 1)
