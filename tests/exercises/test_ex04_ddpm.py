"""Graded tests for exercises/ex04_ddpm.py (see conftest.py for how the folder is chosen)."""
import torch

from diffusionlab import forward, samplers
from diffusionlab.grading import expect_close, expect_tensor
from diffusionlab.schedules import make_schedule

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "ddpm_step": "diffusionlab.samplers.ddpm_step",
    "ddpm_sample": ("diffusionlab.samplers.sample", "diffusionlab.samplers.ddpm_step"),
}

SCHEDULE = make_schedule("linear")


def gaussian_eps_model(mu: torch.Tensor, s: float):
    """The exact noise predictor E[eps | x_t] when the data is N(mu, s^2 I):
    eps_hat = sqrt(1 - abar) (x_t - sqrt(abar) mu) / (abar s^2 + 1 - abar)."""
    abar = SCHEDULE.alphas_cumprod

    def model(x, t):
        a = abar[t].to(x.dtype).reshape(-1, *[1] * (x.ndim - 1))
        return (1 - a).sqrt() * (x - a.sqrt() * mu) / (a * s ** 2 + 1 - a)

    return model


def test_ddpm_step_matches_eqs6_7(exercise):
    ex = exercise("ex04_ddpm")
    for t, t_prev in ((999, 998), (500, 499), (999, 979), (40, 20), (1, 0)):
        x_t, eps, z = (torch.randn(3, 2, 4, 4, dtype=torch.float64) for _ in range(3))
        got = ex.ddpm_step(SCHEDULE, eps.clone(), t, t_prev, x_t.clone(), noise=z.clone())
        want = samplers.ddpm_step(SCHEDULE, eps, t, t_prev, x_t, noise=z).prev_sample
        expect_close(f"ddpm_step (t={t}, t_prev={t_prev})", got, want,
                     "mu_tilde(x0_hat, x_t) + sqrt(beta_tilde) noise")


def test_ddpm_step_one_step_is_the_posterior(exercise):
    """With t_prev = t - 1 the step is q(x_{t-1} | x_t, x0_hat) of exercise 01."""
    ex = exercise("ex04_ddpm")
    t = 300
    x_t, eps = torch.randn(4, 8, dtype=torch.float64), torch.randn(4, 8, dtype=torch.float64)
    a_t = SCHEDULE.alphas_cumprod[t]
    x0_hat = (x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()
    mean, var = forward.q_posterior(SCHEDULE, x0_hat, x_t, t)
    got = ex.ddpm_step(SCHEDULE, eps, t, t - 1, x_t, noise=torch.zeros_like(x_t))
    expect_close("ddpm_step (noise = 0)", got, mean, "the posterior mean mu_tilde (DDPM eq. 7)")
    z = torch.ones_like(x_t)
    got = ex.ddpm_step(SCHEDULE, eps, t, t - 1, x_t, noise=z)
    expect_close("ddpm_step (noise = 1)", got, mean + var.sqrt(),
                 "mu_tilde + sqrt(beta_tilde) noise (DDPM eq. 7)")


def test_ddpm_step_last_step_adds_no_noise(exercise):
    ex = exercise("ex04_ddpm")
    x_t, eps = torch.randn(4, 8, dtype=torch.float64), torch.randn(4, 8, dtype=torch.float64)
    a0 = SCHEDULE.alphas_cumprod[0]
    x0_hat = (x_t - (1 - a0).sqrt() * eps) / a0.sqrt()
    for z in (torch.zeros_like(x_t), torch.randn_like(x_t)):
        got = ex.ddpm_step(SCHEDULE, eps, 0, -1, x_t, noise=z)
        expect_close("ddpm_step (t=0, t_prev=-1)", got, x0_hat,
                     "x0_hat = (x_t - sqrt(1 - abar_0) eps) / sqrt(abar_0), with no noise added")


def test_ddpm_step_draws_its_own_noise(exercise):
    ex = exercise("ex04_ddpm")
    t = 500
    x_t, eps = torch.randn(10000, 2), torch.randn(10000, 2)
    want = samplers.ddpm_step(SCHEDULE, eps, t, t - 1, x_t, noise=torch.zeros_like(x_t)).prev_sample
    got = expect_tensor("ddpm_step (noise=None)", ex.ddpm_step(SCHEDULE, eps, t, t - 1, x_t),
                        x_t.shape, torch.float32)
    r = got - want
    var = forward.q_posterior(SCHEDULE, x_t[:1], x_t[:1], t)[1].item()
    assert abs(r.mean().item()) < 0.05 * var ** 0.5 and abs(r.var().item() / var - 1) < 0.05, \
        f"ddpm_step (noise=None): x_prev - mean should be N(0, beta_tilde = {var:.3g}); got mean " \
        f"{r.mean().item():.3g} and variance {r.var().item():.3g} (draw z with torch.randn)"


def test_ddpm_step_draws_its_noise_from_the_generator(exercise):
    """noise=None, generator=g: z = torch.randn(x_t.shape, generator=g, dtype=x_t.dtype), so the
    same seed gives the same step whatever the global random state."""
    ex = exercise("ex04_ddpm")
    x_t, eps = torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4)
    steps = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        steps.append(ex.ddpm_step(SCHEDULE, eps, 500, 480, x_t,
                                  generator=torch.Generator().manual_seed(7)))
    got = expect_tensor("ddpm_step(noise=None, generator=g)", steps[0], x_t.shape, torch.float32)
    assert torch.equal(steps[0], steps[1]), \
        "ddpm_step(noise=None, generator=g): the same generator seed gave two different steps: " \
        "draw z with torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)"
    z = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(7), dtype=x_t.dtype)
    expect_close("ddpm_step(noise=None, generator=g)", got,
                 samplers.ddpm_step(SCHEDULE, eps, 500, 480, x_t, noise=z).prev_sample,
                 "mean + sqrt(var) z, z = torch.randn(x_t.shape, generator=g, dtype=x_t.dtype)")


def test_ddpm_sample_visits_every_timestep(exercise):
    ex = exercise("ex04_ddpm")
    seen = []

    def model(x, t):
        seen.append(t)
        return torch.zeros_like(x)

    x_T = torch.randn(3, 2, 4, 4)
    before = x_T.clone()
    timesteps = samplers.make_timesteps(10)
    out = expect_tensor("ddpm_sample", ex.ddpm_sample(model, SCHEDULE, x_T, timesteps), x_T.shape)
    assert torch.equal(x_T, before), "ddpm_sample changed x_T in place; start from x = x_T and " \
        "build new tensors"
    got = [int(t.reshape(-1)[0]) if isinstance(t, torch.Tensor) and t.numel() else t for t in seen]
    assert got == timesteps.tolist(), \
        f"ddpm_sample should call model(x, t) once per timestep, at {timesteps.tolist()}; got {got}"
    for t in seen:
        assert isinstance(t, torch.Tensor) and t.shape == (3,) and not t.is_floating_point(), \
            f"ddpm_sample: model(x, t) needs t as a LongTensor of shape (B,) = (3,), got " \
            f"{type(t).__name__} {tuple(t.shape) if isinstance(t, torch.Tensor) else t}"
    assert out.abs().max() > 0, "ddpm_sample returned all zeros"


def test_ddpm_sample_passes_the_generator_on(exercise):
    ex = exercise("ex04_ddpm")
    model = gaussian_eps_model(torch.tensor([1.0, -0.5]), 0.5)
    x_T, timesteps = torch.randn(64, 2), samplers.make_timesteps(10)
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        runs.append(expect_tensor("ddpm_sample(generator=g)", ex.ddpm_sample(
            model, SCHEDULE, x_T, timesteps, generator=torch.Generator().manual_seed(3)),
            x_T.shape, torch.float32))
    assert torch.equal(runs[0], runs[1]), \
        "ddpm_sample(generator=g): the same generator seed gave different samples: pass " \
        "generator=generator on to every ddpm_step"


def test_ddpm_sample_of_a_single_point_returns_it(exercise):
    """If the data is one point x*, the exact model predicts x0_hat = x* at every step."""
    ex = exercise("ex04_ddpm")
    x_star = torch.tensor([0.5, -0.25, 0.75])
    model = gaussian_eps_model(x_star, 0.0)
    x_T = torch.randn(16, 3, dtype=torch.float64)
    out = ex.ddpm_sample(model, SCHEDULE, x_T, samplers.make_timesteps(20))
    expect_close("ddpm_sample (data = one point x*)", out, x_star.double().expand(16, 3),
                 "x* itself for every sample", atol=1e-4)


def test_ddpm_sample_of_gaussian_data(exercise):
    """Data N(mu, 0.5^2): the samples' mean and spread match the library's DDPM sampler."""
    ex = exercise("ex04_ddpm")
    mu, s = torch.tensor([1.0, -0.5]), 0.5
    model = gaussian_eps_model(mu, s)
    timesteps = samplers.make_timesteps(100)
    gen = torch.Generator().manual_seed(1)
    x_T = torch.randn(4000, 2, generator=gen)
    out = expect_tensor("ddpm_sample",
                        ex.ddpm_sample(model, SCHEDULE, x_T, timesteps, generator=gen), x_T.shape)
    ref = samplers.sample(model, SCHEDULE, (20000, 2), sampler="ddpm", timesteps=timesteps, seed=2,
                          progress=False)
    for what, a, b, tol in (("mean", out.mean(0), ref.mean(0), 0.04),
                            ("std", out.std(0), ref.std(0), 0.03)):
        err = (a - b).abs().max().item()
        assert err < tol, \
            f"ddpm_sample on data N(mu={mu.tolist()}, std {s}) with the exact model: " \
            f"sample {what} " \
            f"{[round(v, 2) for v in a.tolist()]}, expected {[round(v, 2) for v in b.tolist()]} " \
            f"(100 steps)"
