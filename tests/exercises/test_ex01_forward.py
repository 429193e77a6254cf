"""Graded tests for exercises/ex01_forward.py (see conftest.py for how the folder is chosen)."""
import torch

from diffusionlab import forward
from diffusionlab.grading import expect_close, expect_tensor
from diffusionlab.schedules import make_schedule

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "q_step": "diffusionlab.forward.q_step",
    "q_sample": ("diffusionlab.forward.q_sample", "diffusionlab.forward.q_chain"),
    "q_posterior": "diffusionlab.forward.q_posterior",
}

SCHEDULE = make_schedule("linear")
N = 10000      # samples of the statistical tests, shaped (N, 2): a (N,) coefficient that misses
               # `extract` fails to broadcast against them at once, instead of making (N, N)


def _batch(B=6, shape=(3, 4, 4), dtype=torch.float32):
    x = torch.randn(B, *shape, dtype=dtype)
    t = torch.tensor([0, 1, 250, 500, 998, 999])[:B]
    return x, t, torch.randn(B, *shape, dtype=dtype)


def test_q_step_matches_eq2(exercise):
    ex = exercise("ex01_forward")
    x, t, noise = _batch()
    x_in, noise_in = x.clone(), noise.clone()
    got = ex.q_step(SCHEDULE, x_in, t, noise_in)
    expect_close("q_step", got, forward.q_step(SCHEDULE, x, t, noise),
                 "sqrt(1 - beta_t) x_prev + sqrt(beta_t) noise", t=t)
    assert torch.equal(x_in, x) and torch.equal(noise_in, noise), \
        "q_step changed its inputs in place; return a new tensor instead"


def test_q_step_draws_its_own_noise(exercise):
    ex = exercise("ex01_forward")
    x = torch.ones(N, 2)                # (n, 2), never (n, 1): see N
    t = torch.full((N,), 999)
    got = expect_tensor("q_step(noise=None)", ex.q_step(SCHEDULE, x, t), x.shape, torch.float32)
    beta = SCHEDULE.betas[999].item()
    assert abs(got.mean().item() - (1 - beta) ** 0.5) < 0.01, \
        f"q_step(noise=None): mean should be sqrt(1 - beta_t) = {(1 - beta) ** 0.5:.3f} for " \
        f"x_prev = 1, got {got.mean().item():.3f}"
    assert abs(got.std().item() / beta ** 0.5 - 1) < 0.05, \
        f"q_step(noise=None): std should be sqrt(beta_t) = {beta ** 0.5:.3f}, got " \
        f"{got.std().item():.3f} (draw the noise with torch.randn_like)"


def test_q_sample_matches_eq4(exercise):
    ex = exercise("ex01_forward")
    x, t, noise = _batch()
    got = ex.q_sample(SCHEDULE, x.clone(), t, noise.clone())
    expect_close("q_sample", got, forward.q_sample(SCHEDULE, x, t, noise),
                 "sqrt(abar_t) x0 + sqrt(1 - abar_t) noise", t=t)


def test_q_sample_statistics(exercise):
    ex = exercise("ex01_forward")
    x0 = torch.tensor([1.0, -2.0, 0.5]).expand(N, 3)
    for step in (0, 500, 999):
        t = torch.full((N,), step)
        got = expect_tensor("q_sample(noise=None)", ex.q_sample(SCHEDULE, x0, t), x0.shape)
        abar = SCHEDULE.alphas_cumprod[step].item()
        mean_err = (got.mean(0) - abar ** 0.5 * x0[0]).abs().max().item()
        assert mean_err < 0.03, \
            f"q_sample: mean over many noises should be sqrt(abar_t) x0; off by {mean_err:.2f} " \
            f"at t={step}"
        std = got.std(0).mean().item()
        assert abs(std / (1 - abar) ** 0.5 - 1) < 0.05, \
            f"q_sample: std over many noises should be sqrt(1 - abar_t) = " \
            f"{(1 - abar) ** 0.5:.3f} at t={step}, got {std:.3f}"


def test_closed_form_equals_the_chain(exercise):
    """D31-Q9: q_sample in one line has the distribution of q_step applied t + 1 times."""
    ex = exercise("ex01_forward")
    x0 = torch.full((N, 2), 1.5)
    step = 99
    x = x0
    for s in range(step + 1):
        x = ex.q_step(SCHEDULE, x, torch.full((N,), s))
    x = expect_tensor("q_step (after 100 steps)", x, x0.shape)
    y = expect_tensor("q_sample", ex.q_sample(SCHEDULE, x0, torch.full((N,), step)), x0.shape)
    for what, a, b in (("mean", x.mean().item(), y.mean().item()),
                       ("std", x.std().item(), y.std().item())):
        assert abs(a - b) < 0.03, \
            f"q_step applied {step + 1} times and q_sample at t={step} should agree in " \
            f"distribution; {what} {a:.3f} (chain) vs {b:.3f} (closed form)"


def test_q_posterior_matches_eqs6_7(exercise):
    ex = exercise("ex01_forward")
    x0, t, _ = _batch(dtype=torch.float64)     # float64: near t = 0, float32 keeps 3-4 digits
    x_t = forward.q_sample(SCHEDULE, x0, t)
    got = ex.q_posterior(SCHEDULE, x0.clone(), x_t.clone(), t)
    assert isinstance(got, tuple) and len(got) == 2, \
        f"q_posterior should return a tuple (mean, variance), got {type(got).__name__}"
    mean, var = got
    want_mean, want_var = forward.q_posterior(SCHEDULE, x0, x_t, t)
    expect_close("q_posterior (mean)", mean, want_mean,
                 "sqrt(abar_prev) beta_t / (1 - abar_t) x0 + sqrt(alpha_t) (1 - abar_prev) / "
                 "(1 - abar_t) x_t", t=t)
    var = expect_tensor("q_posterior (variance)", var)
    try:
        if var.ndim != x_t.ndim:
            var = var.reshape(-1, 1, 1, 1)
        var = var.expand(x_t.shape)
    except RuntimeError:
        raise AssertionError(f"q_posterior (variance) should have shape {tuple(want_var.shape)}, "
                             f"got {tuple(var.shape)}") from None
    expect_close("q_posterior (variance)", var, want_var.expand(x_t.shape),
                 "(1 - abar_prev) / (1 - abar_t) beta_t", t=t)


def test_q_posterior_at_t0_is_the_clean_image(exercise):
    ex = exercise("ex01_forward")
    x0, _, _ = _batch(dtype=torch.float64)
    t = torch.zeros(6, dtype=torch.long)
    x_t = forward.q_sample(SCHEDULE, x0, t)
    mean, var = ex.q_posterior(SCHEDULE, x0, x_t, t)
    expect_close("q_posterior (mean at t=0)", mean, x0, "x0 itself (abar_{-1} = 1)")
    var = expect_tensor("q_posterior (variance at t=0)", var)
    assert var.abs().max().item() < 1e-6, \
        f"q_posterior: the variance at t=0 should be 0 (abar_{{-1}} = 1), " \
        f"got {var.max().item():.3g}"


def test_q_posterior_is_the_bayes_posterior(exercise):
    """x_{t-1} ~ q(x_{t-1}|x0), x_t ~ q(x_t|x_{t-1}): x_{t-1} - mu_tilde has mean 0 and
    variance beta_tilde."""
    ex = exercise("ex01_forward")
    n, step = 2 * N, 300
    x0 = torch.randn(n, 2).double()
    x_prev = forward.q_sample(SCHEDULE, x0, step - 1)
    x_t = forward.q_step(SCHEDULE, x_prev, step)
    mean, var = ex.q_posterior(SCHEDULE, x0, x_t, torch.full((n,), step))
    mean = expect_tensor("q_posterior (mean)", mean, x0.shape)
    r = x_prev - mean
    beta_tilde = forward.q_posterior(SCHEDULE, x0[:1], x_t[:1], step)[1].reshape(-1)[0].item()
    assert abs(r.mean().item()) < 3e-3 and abs(r.var().item() / beta_tilde - 1) < 0.05, \
        f"q_posterior: x_(t-1) - mean should have mean 0 and variance beta_tilde = " \
        f"{beta_tilde:.3g} at t={step}; got mean {r.mean().item():.3g}, " \
        f"variance {r.var().item():.3g}"
