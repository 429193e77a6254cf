import pytest
import torch

from diffusionlab.parameterization import (eps_from_v, split_prediction, training_target,
                                           v_from_x0_eps, x0_from_eps, x0_from_v)
from diffusionlab.samplers import (ddim_invert, ddim_step, ddpm_step, make_timesteps, sample)
from diffusionlab.schedules import make_schedule

S = make_schedule("linear", 1000)


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
@pytest.mark.parametrize("n", [10, 50, 1000])
def test_timesteps_match_diffusers(spacing, n):
    diffusers = pytest.importorskip("diffusers")
    ref = diffusers.DDIMScheduler(num_train_timesteps=1000, timestep_spacing=spacing)
    ref.set_timesteps(n)
    assert make_timesteps(n, 1000, spacing).tolist() == ref.timesteps.tolist()


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_timesteps_have_length_n_and_decrease_for_every_n(spacing):
    """A float ``arange(T, 0, -T/n)`` (diffusers' trailing formula) overshoots for some n
    (n = 61 gives 62 values); ours counts k = 0..n-1 instead."""
    for n in range(1, 1001):
        ts = make_timesteps(n, 1000, spacing)
        assert ts.shape == (n,), (n, ts.shape)
        assert bool((ts[:-1] > ts[1:]).all()) and 0 <= int(ts.min()) and int(ts.max()) <= 999


def test_trailing_matches_diffusers_wherever_diffusers_has_n_values():
    diffusers = pytest.importorskip("diffusers")
    ref = diffusers.DDIMScheduler(num_train_timesteps=1000, timestep_spacing="trailing")
    checked = 0
    for n in range(1, 1001):
        ref.set_timesteps(n)
        if len(ref.timesteps) == n:
            assert make_timesteps(n, 1000, "trailing").tolist() == ref.timesteps.tolist(), n
            checked += 1
    assert checked > 900


def test_leading_never_starts_at_last_step_but_trailing_does():
    assert make_timesteps(10, 1000, "leading")[0].item() == 900
    assert make_timesteps(10, 1000, "trailing")[0].item() == 999


def test_parameterizations_round_trip():
    x0, eps = torch.randn(6, 3), torch.randn(6, 3)
    t = torch.tensor([0, 1, 100, 500, 900, 999])
    from diffusionlab.forward import q_sample
    xt = q_sample(S, x0, t, eps)
    torch.testing.assert_close(x0_from_eps(S, xt, t, eps), x0, atol=1e-3, rtol=1e-3)
    v = v_from_x0_eps(S, x0, t, eps)
    torch.testing.assert_close(x0_from_v(S, xt, t, v), x0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(eps_from_v(S, xt, t, v), eps, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(training_target(S, x0, eps, t, "v_prediction"), v)
    for kind, out in [("epsilon", eps), ("sample", x0), ("v_prediction", v)]:
        x0_hat, eps_hat = split_prediction(S, out, xt, t, kind)
        torch.testing.assert_close(eps_hat, eps, atol=2e-3, rtol=1e-3)


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_step_matches_diffusers(prediction_type, eta):
    diffusers = pytest.importorskip("diffusers")
    ref = diffusers.DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear",
                                  clip_sample=False, prediction_type=prediction_type,
                                  set_alpha_to_one=True)
    ref.set_timesteps(20)
    g = torch.Generator().manual_seed(0)
    x, out, z = (torch.randn(2, 3, 4, 4, generator=g) for _ in range(3))
    for t in (ref.timesteps[0].item(), ref.timesteps[10].item(), ref.timesteps[-1].item()):
        t_prev = t - 50
        expected = ref.step(out, t, x, eta=eta, variance_noise=z).prev_sample
        ours = ddim_step(S, out, t, t_prev if t_prev >= 0 else -1, x, eta=eta, noise=z,
                         prediction_type=prediction_type).prev_sample
        torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_ddpm_step_matches_diffusers(prediction_type):
    diffusers = pytest.importorskip("diffusers")
    ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear",
                                  clip_sample=False, prediction_type=prediction_type)
    ref.set_timesteps(1000)
    g = torch.Generator().manual_seed(1)
    x, out = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    for t in (999, 500, 1):
        expected = ref.step(out, t, x, generator=torch.Generator().manual_seed(7)).prev_sample
        z = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))
        ours = ddpm_step(S, out, t, t - 1, x, noise=z, prediction_type=prediction_type)
        torch.testing.assert_close(ours.prev_sample, expected, rtol=1e-4, atol=1e-5)


def test_ddim_eta_one_has_ddpm_posterior_variance():
    t, t_prev = 600, 599
    x = torch.zeros(20000, 1)
    out = torch.zeros_like(x)
    a = ddim_step(S, out, t, t_prev, x, eta=1.0).prev_sample
    b = ddpm_step(S, out, t, t_prev, x).prev_sample
    assert a.var().item() == pytest.approx(b.var().item(), rel=0.05)


def _gaussian_denoiser(mu, sigma):
    """Exact eps prediction when the data are N(mu, sigma^2): E[eps | x_t]."""
    abar = S.alphas_cumprod.float()

    def model(x, t):
        a = abar[t].reshape(-1, *([1] * (x.ndim - 1)))
        var = a * sigma ** 2 + (1 - a)
        return (1 - a).sqrt() * (x - a.sqrt() * mu) / var
    return model


@pytest.mark.slow
@pytest.mark.parametrize("sampler,steps", [("ddpm", 1000), ("ddim", 50), ("ddpm", 100)])
def test_sampling_recovers_gaussian_data(sampler, steps):
    model = _gaussian_denoiser(2.0, 0.5)
    x = sample(model, S, (4000, 1), num_inference_steps=steps, sampler=sampler, seed=0,
               progress=False)
    assert x.mean().item() == pytest.approx(2.0, abs=0.05)
    assert x.std().item() == pytest.approx(0.5, abs=0.05)


def test_ddim_deterministic_and_trajectory():
    model = _gaussian_denoiser(0.0, 1.0)
    xT = torch.randn(8, 2)
    a, traj = sample(model, S, (8, 2), 10, x_T=xT, return_trajectory=True, progress=False)
    b = sample(model, S, (8, 2), 10, x_T=xT, seed=123, progress=False)
    assert torch.equal(a, b)
    assert traj["x"].shape == (11, 8, 2) and traj["x0_pred"].shape == (10, 8, 2)


def test_ddim_inversion_reconstructs():
    model = _gaussian_denoiser(1.0, 0.3)
    x0 = 1.0 + 0.3 * torch.randn(64, 1)
    errors = {}
    for n in (100, 500):
        xT = ddim_invert(model, S, x0, n, progress=False)
        rec = sample(model, S, (64, 1), n, x_T=xT, progress=False)
        errors[n] = (rec - x0).abs().mean().item()
    # inversion reuses eps from the neighbouring step: a first-order error, ~1/steps
    assert errors[100] < 0.03
    assert errors[500] < errors[100] / 3


def test_bad_input():
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="t_prev must come before t"):
        ddim_step(S, x, 10, 10, x)
    with pytest.raises(ValueError, match="num_inference_steps \\(2000\\) cannot exceed"):
        make_timesteps(2000, 1000)
    with pytest.raises(ValueError, match="spacing must be one of"):
        make_timesteps(10, 1000, "cosine")
    with pytest.raises(ValueError, match="prediction_type must be one of"):
        ddpm_step(S, x, 10, 9, x, prediction_type="noise")
    with pytest.raises(ValueError, match="model_output and x_t must have the same shape"):
        ddim_step(S, torch.randn(2, 4), 10, 9, x)
    with pytest.raises(ValueError, match="eta must be >= 0"):
        ddim_step(S, x, 10, 9, x, eta=-1)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 999\]"):
        ddim_step(S, x, 1000, 9, x)
    with pytest.raises(ValueError, match="sampler must be one of"):
        sample(lambda x, t: x, S, (2, 2), sampler="euler")


# ----------------------------------------------------------------------------- DPM-Solver++ and LCM
def _nonlinear_model(x, t):
    """A fixed, non-linear 'network' so that a solver's every term matters."""
    s = (t.float() / 1000).reshape(-1, *([1] * (x.ndim - 1)))
    return torch.tanh(x * (1 + s)) * 0.8 + 0.1 * s


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("n", [1, 2, 5, 20])
def test_dpm_solver_pp_matches_diffusers(prediction_type, n):
    diffusers = pytest.importorskip("diffusers")
    ref = diffusers.DPMSolverMultistepScheduler(
        num_train_timesteps=1000, beta_schedule="linear", algorithm_type="dpmsolver++",
        solver_order=2, lower_order_final=True, prediction_type=prediction_type)
    ref.set_timesteps(n)
    x_T = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    x = x_T.clone()
    for t in ref.timesteps:
        out = _nonlinear_model(x, torch.full((3,), int(t)))
        x = ref.step(out, t, x).prev_sample
    ours = sample(_nonlinear_model, S, tuple(x_T.shape), sampler="dpmsolver++", x_T=x_T,
                  timesteps=torch.as_tensor(ref.timesteps), prediction_type=prediction_type,
                  progress=False)
    torch.testing.assert_close(ours, x, rtol=1e-4, atol=1e-4)


def test_dpm_solver_first_order_is_ddim_and_second_order_differs():
    """Sanity check (an identity of the two updates): DPM-Solver++ of order 1 is DDIM."""
    x_T = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    kw = dict(x_T=x_T, progress=False, num_inference_steps=10)
    ddim = sample(_nonlinear_model, S, (4, 3), sampler="ddim", **kw)
    first = sample(_nonlinear_model, S, (4, 3), sampler="dpmsolver++", solver_order=1, **kw)
    second = sample(_nonlinear_model, S, (4, 3), sampler="dpmsolver++", **kw)
    torch.testing.assert_close(first, ddim, rtol=1e-5, atol=1e-5)
    assert (second - ddim).abs().max() > 1e-3


def test_dpm_solver_pp_solves_the_ode_better_than_ddim():
    """On Gaussian data N(mu, sd^2) the probability-flow ODE has a closed-form solution
    (x_t stays at the same standardized value); after 10 steps from T-1 to t = 20 the 2M
    solver lands several times closer to it than DDIM (second order against first)."""
    mu, sd = 1.5, 0.4
    model = _gaussian_denoiser(mu, sd)
    x_T = torch.randn(2000, 1, generator=torch.Generator().manual_seed(2))
    abar = S.alphas_cumprod.float()

    def std(a):
        return (a * sd ** 2 + 1 - a).sqrt()

    exact = abar[20].sqrt() * mu + std(abar[20]) * (x_T - abar[999].sqrt() * mu) / std(abar[999])
    ts = torch.linspace(999, 20, 11).round().long()
    err = {}
    for name in ("ddim", "dpmsolver++"):
        _, traj = sample(model, S, (2000, 1), sampler=name, x_T=x_T, timesteps=ts,
                         return_trajectory=True, progress=False)
        err[name] = (traj["x"][-2] - exact).abs().mean().item()     # x at t = 20
    assert err["dpmsolver++"] < err["ddim"] / 3


def test_lcm_timesteps_match_diffusers():
    diffusers = pytest.importorskip("diffusers")
    from diffusionlab.samplers import lcm_timesteps

    ref = diffusers.LCMScheduler(num_train_timesteps=1000, original_inference_steps=50)
    for n in (1, 2, 4, 8):
        ref.set_timesteps(n)
        assert lcm_timesteps(n).tolist() == ref.timesteps.tolist()


def test_lcm_step_matches_diffusers():
    diffusers = pytest.importorskip("diffusers")
    from diffusionlab.samplers import lcm_step

    ref = diffusers.LCMScheduler(num_train_timesteps=1000, beta_schedule="linear",
                                 beta_start=0.0001, beta_end=0.02,
                                 original_inference_steps=50)
    ref.set_timesteps(4)
    g = torch.Generator().manual_seed(3)
    x, out = torch.randn(2, 4, 3, 3, generator=g), torch.randn(2, 4, 3, 3, generator=g)
    ts = ref.timesteps.tolist()
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        expected = ref.step(out, t, x, generator=torch.Generator().manual_seed(9))
        z = torch.randn(x.shape, generator=torch.Generator().manual_seed(9))
        ours = lcm_step(S, out, t, t_prev, x, noise=z)
        torch.testing.assert_close(ours.prev_sample, expected.prev_sample, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(ours.pred_original_sample, expected.denoised,
                                   rtol=1e-4, atol=1e-5)


def test_dpm_and_lcm_bad_input():
    from diffusionlab.samplers import dpm_solver_pp_step, lcm_timesteps

    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="order must be one of"):
        dpm_solver_pp_step(S, x, 10, 5, x, order=3)
    with pytest.raises(ValueError, match="solver_order must be one of"):
        sample(lambda x, t: x, S, (2, 3), 4, sampler="dpmsolver++", solver_order=3)
    with pytest.raises(ValueError, match="num_inference_steps must be >= 1"):
        sample(lambda x, t: x, S, (2, 3), 0, sampler="dpmsolver++")
    with pytest.raises(ValueError, match="t_last must be"):
        dpm_solver_pp_step(S, x, 10, 5, x, prev_x0=x, t_last=8)
    with pytest.raises(ValueError, match="num_inference_steps must be <= 50"):
        lcm_timesteps(60)
