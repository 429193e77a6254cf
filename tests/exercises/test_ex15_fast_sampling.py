"""Graded tests for exercises/ex15_fast_sampling.py (see conftest.py for how the folder is
chosen)."""
import torch

from diffusionlab import distillation, samplers
from diffusionlab.grading import expect_close, expect_tensor
from diffusionlab.schedules import make_schedule

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "dpm_solver_pp_step": ("diffusionlab.samplers.dpm_solver_pp_step",
                           "diffusionlab.samplers.sample"),
    "consistency_distillation_target": ("diffusionlab.distillation.guided_ddim_solver_step",
                                        "diffusionlab.distillation.consistency_target"),
}

SCHEDULE = make_schedule("scaled_linear")


def _pair(name, got):
    assert isinstance(got, (tuple, list)) and len(got) == 2, \
        f"{name} should return a tuple (x_prev, x0_hat), got {type(got).__name__}"
    return got


def test_dpm_first_step_is_ddim(exercise):
    ex = exercise("ex15_fast_sampling")
    x_t, eps = torch.randn(3, 4, 2, 2, dtype=torch.float64), torch.randn(3, 4, 2, 2,
                                                                         dtype=torch.float64)
    for t, t_prev in ((999, 899), (500, 250), (40, 0)):
        got, x0 = _pair("dpm_solver_pp_step", ex.dpm_solver_pp_step(SCHEDULE, eps, t, t_prev, x_t))
        got = expect_tensor(f"dpm_solver_pp_step (t={t}, t_prev={t_prev}, first step)", got,
                            x_t.shape, torch.float64)
        want = samplers.ddim_step(SCHEDULE, eps, t, t_prev, x_t).prev_sample
        expect_close(f"dpm_solver_pp_step (t={t}, t_prev={t_prev}, no prev_x0)", got, want,
                     "DDIM's x_prev: with D = x0_hat the update is sqrt(abar_prev) x0_hat + "
                     "sqrt(1 - abar_prev) eps")
        a = SCHEDULE.alphas_cumprod[t]
        expect_close(f"dpm_solver_pp_step (t={t}): x0_hat", x0,
                     (x_t - (1 - a).sqrt() * eps) / a.sqrt(), "(x_t - sigma_t eps) / alpha_t")


def test_dpm_second_order_step(exercise):
    ex = exercise("ex15_fast_sampling")
    g = torch.Generator().manual_seed(0)
    x_t, eps, prev = (torch.randn(2, 4, 3, 3, generator=g, dtype=torch.float64) for _ in range(3))
    for t_last, t, t_prev in ((999, 899, 799), (999, 759, 499), (300, 200, 20), (120, 60, 1)):
        got, _ = _pair("dpm_solver_pp_step", ex.dpm_solver_pp_step(
            SCHEDULE, eps, t, t_prev, x_t, prev_x0=prev, t_last=t_last))
        want = samplers.dpm_solver_pp_step(SCHEDULE, eps, t, t_prev, x_t, prev_x0=prev,
                                           t_last=t_last).prev_sample
        expect_close(f"dpm_solver_pp_step (t_last={t_last}, t={t}, t_prev={t_prev})", got, want,
                     "sigma_prev/sigma_t x_t - alpha_prev (e^-h - 1) D with "
                     "D = (1 + 1/2r) x0_hat - 1/2r prev_x0")


def test_dpm_final_step_returns_x0_hat(exercise):
    ex = exercise("ex15_fast_sampling")
    x_t, eps, prev = torch.randn(2, 8), torch.randn(2, 8), torch.randn(2, 8)
    got, x0 = _pair("dpm_solver_pp_step", ex.dpm_solver_pp_step(SCHEDULE, eps, 19, -1, x_t,
                                                                 prev_x0=prev, t_last=259))
    a = SCHEDULE.alphas_cumprod[19].float()
    expect_close("dpm_solver_pp_step (t_prev=-1): x_prev", got, (x_t - (1 - a).sqrt() * eps)
                 / a.sqrt(), "x0_hat itself (first order at the final step)")


def test_dpm_sampling_loop_matches_the_library(exercise):
    """Your step in a 2M loop on the exact model of Gaussian data, 8 leading steps."""
    ex = exercise("ex15_fast_sampling")
    mu, s = torch.tensor([1.0, -0.5]), 0.5
    abar = SCHEDULE.alphas_cumprod

    def model(x, t):        # E[eps | x_t] for data N(mu, s^2)
        a = abar[t].to(x.dtype).reshape(-1, 1)
        return (1 - a).sqrt() * (x - a.sqrt() * mu) / (a * s ** 2 + 1 - a)

    x_T = torch.randn(400, 2, dtype=torch.float64)
    ts = samplers.make_timesteps(8, 1000, "trailing").tolist()
    x, memory = x_T, (None, None)
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        x, x0 = _pair("dpm_solver_pp_step", ex.dpm_solver_pp_step(
            SCHEDULE, model(x, torch.full((400,), t)), t, t_prev, x, *memory))
        memory = (x0, t)
    want = samplers.sample(model, SCHEDULE, (400, 2), 8, sampler="dpmsolver++", x_T=x_T,
                           spacing="trailing", progress=False)
    expect_close("DPM-Solver++(2M) sampling with your step (8 trailing steps)", x, want,
                 "the library's 2M samples from the same x_T", atol=1e-4)


def _target_fn(z, t):
    """A stand-in for the EMA network's f: non-linear in z and depends on t."""
    return torch.tanh(z) * (1 + t.to(z.dtype).view(-1, 1, 1, 1) / 1000)


def test_consistency_target_matches_the_library(exercise):
    ex = exercise("ex15_fast_sampling")
    g = torch.Generator().manual_seed(1)
    z_t, e_u, e_c = (torch.randn(6, 4, 2, 2, generator=g, dtype=torch.float64) for _ in range(3))
    t = torch.tensor([999, 19, 519, 39, 259, 19])
    t_prev = t - 20
    for s in (1.0, 3.0, 7.5):
        got = ex.consistency_distillation_target(SCHEDULE, e_u, e_c, s, z_t, t, t_prev, _target_fn)
        got = expect_tensor(f"consistency_distillation_target (s={s})", got, z_t.shape,
                            torch.float64)
        z_prev = distillation.guided_ddim_solver_step(SCHEDULE, e_u, e_c, s, z_t, t, t_prev)
        want = distillation.consistency_target(_target_fn, z_prev, t_prev)
        expect_close(f"consistency_distillation_target (s={s}, t={t.tolist()})", got, want,
                     "f_target(DDIM step of eps_u + s (eps_c - eps_u)), z_prev where t_prev = -1")


def test_consistency_target_boundary_is_the_teacher_clean_estimate(exercise):
    ex = exercise("ex15_fast_sampling")
    z_t, e_u, e_c = torch.randn(3, 4, 2, 2), torch.randn(3, 4, 2, 2), torch.randn(3, 4, 2, 2)
    t = torch.tensor([19, 19, 19])
    got = ex.consistency_distillation_target(SCHEDULE, e_u, e_c, 3.0, z_t, t, t - 20, _target_fn)
    a = SCHEDULE.alphas_cumprod[19].float()
    eps = e_u + 3.0 * (e_c - e_u)
    expect_close("consistency_distillation_target at t_prev = -1", got,
                 (z_t - (1 - a).sqrt() * eps) / a.sqrt(),
                 "the guided teacher's x0_hat itself: f(x, clean) = x, no target network")
