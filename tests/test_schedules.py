import math

import pytest
import torch

from diffusionlab.schedules import SCHEDULES, make_schedule


def test_linear_matches_ddpm_definition():
    s = make_schedule("linear", 1000)
    assert s.betas[0].item() == pytest.approx(1e-4)
    assert s.betas[-1].item() == pytest.approx(0.02)
    # abar_t includes t: abar[0] = 1 - beta[0]
    assert s.alphas_cumprod[0].item() == pytest.approx(1 - 1e-4)
    assert s.alphas_cumprod[-1].item() == pytest.approx(4.04e-5, rel=0.02)


def test_scaled_linear_endpoints():
    s = make_schedule("scaled_linear", 1000)
    assert s.betas[0].item() == pytest.approx(0.00085)
    assert s.betas[-1].item() == pytest.approx(0.012)
    mid = s.betas[500].sqrt().item()
    lin = math.sqrt(0.00085) + 500 / 999 * (math.sqrt(0.012) - math.sqrt(0.00085))
    assert mid == pytest.approx(lin)


def test_cosine_follows_closed_form_abar():
    T = 1000
    s = make_schedule("cosine", T)
    f = lambda t: math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 100, 500, 900):
        assert s.alphas_cumprod[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-6)
    assert s.betas.max().item() <= 0.999 + 1e-12


def test_sigmoid_is_monotone_and_ends_near_zero():
    s = make_schedule("sigmoid", 1000)
    abar = s.alphas_cumprod
    assert bool((abar[1:] < abar[:-1]).all())
    assert abar[0].item() > 0.99 and abar[-1].item() < 1e-3


@pytest.mark.parametrize("name", SCHEDULES)
def test_zero_terminal_snr(name):
    s = make_schedule(name, 1000, zero_terminal_snr=True)
    base = make_schedule(name, 1000)
    assert s.alphas_cumprod[-1].item() == pytest.approx(0.0, abs=1e-12)
    assert s.snr[-1].item() == 0.0
    assert s.alphas_cumprod[0].item() == pytest.approx(base.alphas_cumprod[0].item(), rel=1e-9)
    assert bool((s.snr[1:] <= s.snr[:-1]).all())


@pytest.mark.parametrize("name,diffusers_name", [("linear", "linear"),
                                                  ("scaled_linear", "scaled_linear"),
                                                  ("cosine", "squaredcos_cap_v2")])
def test_matches_diffusers(name, diffusers_name):
    diffusers = pytest.importorskip("diffusers")
    # diffusers takes the endpoints as arguments; these are SD's (scaled_linear) and DDPM's
    ends = (0.00085, 0.012) if name == "scaled_linear" else (1e-4, 0.02)
    ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule=diffusers_name,
                                  beta_start=ends[0], beta_end=ends[1])
    ours = make_schedule(name, 1000)
    torch.testing.assert_close(ours.alphas_cumprod.float(), ref.alphas_cumprod, rtol=1e-5, atol=1e-6)


def test_zero_snr_matches_diffusers():
    diffusers = pytest.importorskip("diffusers")
    ref = diffusers.DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085,
                                  beta_end=0.012, rescale_betas_zero_snr=True)
    ours = make_schedule("scaled_linear", 1000, zero_terminal_snr=True)
    torch.testing.assert_close(ours.alphas_cumprod.float(), ref.alphas_cumprod, rtol=1e-4, atol=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="name must be one of"):
        make_schedule("quadratic")
    with pytest.raises(ValueError, match="num_timesteps must be >= 2"):
        make_schedule("linear", 1)
    with pytest.raises(TypeError, match="num_timesteps must be an int"):
        make_schedule("linear", 10.5)
    with pytest.raises(TypeError, match="zero_terminal_snr must be a bool"):
        make_schedule("linear", 10, zero_terminal_snr="yes")
