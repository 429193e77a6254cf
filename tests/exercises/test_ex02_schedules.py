"""Graded tests for exercises/ex02_schedules.py (see conftest.py for how the folder is chosen)."""
import math

import torch

from diffusionlab.grading import expect_close, expect_tensor, gap
from diffusionlab.schedules import make_schedule, rescale_zero_terminal_snr

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "linear_betas": "diffusionlab.schedules.make_schedule",
    "cosine_betas": ("diffusionlab.schedules.make_schedule",
                     "diffusionlab.schedules._betas_from_alpha_bar"),
    "snr": "diffusionlab.schedules.NoiseSchedule.snr",
    "rescale_zero_terminal_snr": "diffusionlab.schedules.rescale_zero_terminal_snr",
}


def test_linear_betas(exercise):
    ex = exercise("ex02_schedules")
    for T in (1000, 50):
        got = ex.linear_betas(T)
        expect_close(f"linear_betas({T})", got, make_schedule("linear", T).betas,
                     "linspace(1e-4, 0.02, T)", atol=1e-8, rtol=1e-6)


def test_cosine_betas(exercise):
    ex = exercise("ex02_schedules")
    got = expect_tensor("cosine_betas(1000)", ex.cosine_betas(1000), (1000,))
    abar = torch.cumprod(1.0 - got.double(), 0)
    want = make_schedule("cosine").alphas_cumprod
    assert abs(abar[500].item() - want[500].item()) < 1e-3, \
        f"cosine_betas: abar[500] = prod(1 - beta) should be f(501 / T) / f(0); " \
        f"{gap(abar[500].item(), want[500].item())}"
    for T in (1000, 100):
        expect_close(f"cosine_betas({T})", ex.cosine_betas(T), make_schedule("cosine", T).betas,
                     "min(1 - f((i+1)/T) / f(i/T), 0.999)", atol=1e-6, rtol=1e-5)


def test_cosine_betas_uses_s_and_max_beta(exercise):
    ex = exercise("ex02_schedules")
    s, cap, T = 0.05, 0.5, 200

    def f(tau):
        return torch.cos((tau + s) / (1 + s) * math.pi / 2) ** 2

    i = torch.arange(T, dtype=torch.float64)
    want = torch.clamp(1 - f((i + 1) / T) / f(i / T), max=cap)
    got = ex.cosine_betas(T, s=s, max_beta=cap)
    expect_close(f"cosine_betas({T}, s={s}, max_beta={cap})", got, want,
                 "the same formula with the given s and cap", atol=1e-6, rtol=1e-5)


def test_snr(exercise):
    ex = exercise("ex02_schedules")
    for name in ("linear", "cosine"):
        schedule = make_schedule(name)
        expect_close(f"snr ({name} schedule)", ex.snr(schedule.alphas_cumprod), schedule.snr,
                     "abar_t / (1 - abar_t)", rtol=1e-6)
    zero = make_schedule("linear", zero_terminal_snr=True).alphas_cumprod
    got = expect_tensor("snr (zero terminal SNR schedule)", ex.snr(zero), zero.shape)
    assert got[-1].item() == 0, \
        f"snr: where abar_t = 0 the SNR should be 0, got {got[-1].item():.3g}"


def test_rescale_zero_terminal_snr(exercise):
    ex = exercise("ex02_schedules")
    for name in ("linear", "scaled_linear", "cosine"):
        betas = make_schedule(name).betas
        before = betas.clone()
        got = ex.rescale_zero_terminal_snr(betas)
        assert torch.equal(betas, before), \
            "rescale_zero_terminal_snr changed its input in place; work on a copy"
        got = expect_tensor(f"rescale_zero_terminal_snr ({name})", got, betas.shape)
        abar = torch.cumprod(1.0 - got.double(), 0)
        assert abs(abar[-1].item()) < 1e-12, \
            f"rescale_zero_terminal_snr ({name}): abar[T-1] should be 0 (pure noise at the " \
            f"last step), got {abar[-1].item():.3g}"
        assert abs(abar[0].item() - (1 - before[0].item())) < 1e-9, \
            f"rescale_zero_terminal_snr ({name}): abar[0] should stay " \
            f"{1 - before[0].item():.6f}, " \
            f"got {abar[0].item():.6f}"
        expect_close(f"rescale_zero_terminal_snr ({name})", got, rescale_zero_terminal_snr(betas),
                     "the betas of Lin et al. 2023, Algorithm 1", atol=1e-8, rtol=1e-6)
