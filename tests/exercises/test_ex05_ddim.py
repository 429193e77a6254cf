"""Graded tests for exercises/ex05_ddim.py (see conftest.py for how the folder is chosen)."""
import pytest
import torch

from diffusionlab import forward, samplers
from diffusionlab.grading import expect_close, expect_tensor
from diffusionlab.schedules import make_schedule

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "make_timesteps": ("diffusionlab.samplers.make_timesteps",
                       "diffusionlab.samplers.SchedulerConfig.timesteps"),
    "ddim_step": ("diffusionlab.samplers.ddim_step", "diffusionlab.samplers.sample"),
}

SCHEDULE = make_schedule("linear")
PAIRS = ((999, 979), (500, 499), (500, 100), (20, 0), (0, -1), (999, -1))


def _timesteps_as_list(name, got):
    if isinstance(got, torch.Tensor):
        assert not got.is_floating_point(), \
            f"{name} should return integer timesteps (a LongTensor), got dtype {got.dtype}"
        return got.reshape(-1).tolist()
    if isinstance(got, (list, tuple)):
        return [int(v) for v in got]
    raise AssertionError(f"{name} should return a LongTensor, got {type(got).__name__}")


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_make_timesteps(exercise, spacing):
    ex = exercise("ex05_ddim")
    for n, T in ((10, 1000), (50, 1000), (7, 1000), (1000, 1000), (1, 1000), (8, 100)):
        name = f"make_timesteps({n}, {T}, spacing={spacing!r})"
        got = _timesteps_as_list(name, ex.make_timesteps(n, T, spacing))
        want = samplers.make_timesteps(n, T, spacing).tolist()
        if got != want:
            def short(v):
                return "[" + ", ".join(map(str, v if len(v) <= 8 else v[:4] + ["..."] + v[-2:])) + "]"

            raise AssertionError(f"{name} should be {short(want)}, got {short(got)}")


def test_make_timesteps_rejects_unknown_spacing(exercise):
    ex = exercise("ex05_ddim")
    try:
        ex.make_timesteps(10, 1000, "uniform")
    except ValueError:
        return
    except NotImplementedError:
        raise
    except Exception as err:
        raise AssertionError(f"make_timesteps(spacing='uniform') should raise ValueError, "
                             f"got {type(err).__name__}") from None
    raise AssertionError("make_timesteps(spacing='uniform') should raise ValueError")


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_step_matches_eq12(exercise, eta):
    ex = exercise("ex05_ddim")
    for t, t_prev in PAIRS:
        x_t, eps, z = (torch.randn(3, 2, 4, 4, dtype=torch.float64) for _ in range(3))
        got = ex.ddim_step(SCHEDULE, eps.clone(), t, t_prev, x_t.clone(), eta=eta, noise=z.clone())
        want = samplers.ddim_step(SCHEDULE, eps, t, t_prev, x_t, eta=eta, noise=z).prev_sample
        expect_close(f"ddim_step (eta={eta}, t={t}, t_prev={t_prev})", got, want,
                     "sqrt(a_prev) x0_hat + sqrt(1 - a_prev - sigma^2) eps + sigma z")


def test_ddim_eta0_is_deterministic(exercise):
    ex = exercise("ex05_ddim")
    x_t, eps = torch.randn(4, 8), torch.randn(4, 8)
    a = ex.ddim_step(SCHEDULE, eps, 600, 400, x_t, eta=0.0, noise=torch.randn(4, 8))
    b = ex.ddim_step(SCHEDULE, eps, 600, 400, x_t, eta=0.0, noise=torch.randn(4, 8))
    c = ex.ddim_step(SCHEDULE, eps, 600, 400, x_t, eta=0.0)
    expect_close("ddim_step (eta=0, another noise)", b, a, "the same: eta = 0 adds no noise")
    expect_close("ddim_step (eta=0, noise=None)", c, a, "the same: eta = 0 adds no noise")


def test_ddim_step_with_eta_draws_its_noise_from_the_generator(exercise):
    """eta > 0, noise=None: z = torch.randn(x_t.shape, generator=g, dtype=x_t.dtype)."""
    ex = exercise("ex05_ddim")
    x_t, eps = torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4)
    steps = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        steps.append(ex.ddim_step(SCHEDULE, eps, 600, 400, x_t, eta=1.0,
                                  generator=torch.Generator().manual_seed(11)))
    got = expect_tensor("ddim_step(eta=1, noise=None, generator=g)", steps[0], x_t.shape,
                        torch.float32)
    assert torch.equal(steps[0], steps[1]), \
        "ddim_step(eta=1, noise=None, generator=g): the same generator seed gave two different " \
        "steps: draw z with torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)"
    z = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(11), dtype=x_t.dtype)
    expect_close("ddim_step(eta=1, noise=None, generator=g)", got,
                 samplers.ddim_step(SCHEDULE, eps, 600, 400, x_t, eta=1.0, noise=z).prev_sample,
                 "sqrt(a_prev) x0_hat + sqrt(1 - a_prev - sigma^2) eps + sigma z")


def test_ddim_eta1_has_the_ddpm_posterior_variance(exercise):
    ex = exercise("ex05_ddim")
    x_t, eps = torch.randn(4, 8, dtype=torch.float64), torch.randn(4, 8, dtype=torch.float64)
    for t, t_prev in ((300, 299), (999, 979)):
        zero = ex.ddim_step(SCHEDULE, eps, t, t_prev, x_t, eta=1.0, noise=torch.zeros_like(x_t))
        one = ex.ddim_step(SCHEDULE, eps, t, t_prev, x_t, eta=1.0, noise=torch.ones_like(x_t))
        a_t = SCHEDULE.alphas_cumprod[t]
        a_prev = SCHEDULE.alphas_cumprod[t_prev]
        var = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)       # beta_tilde over the gap
        if t_prev == t - 1:
            var = forward.q_posterior(SCHEDULE, x_t[:1], x_t[:1], t)[1].reshape(())
        expect_close(f"ddim_step (eta=1, t={t}, t_prev={t_prev}): sigma", one - zero,
                     var.sqrt().expand(4, 8).to(x_t.dtype),
                     "sqrt(beta_tilde), the DDPM posterior std (eq. 16 with eta = 1)")
        ddpm = samplers.ddpm_step(SCHEDULE, eps, t, t_prev, x_t, noise=torch.zeros_like(x_t))
        expect_close(f"ddim_step (eta=1, t={t}, t_prev={t_prev}): mean", zero, ddpm.prev_sample,
                     "the DDPM posterior mean mu_tilde")


def test_ddim_sampling_loop_is_deterministic_and_matches_the_library(exercise):
    """Your make_timesteps + ddim_step, eta = 0, on the exact model of Gaussian data."""
    ex = exercise("ex05_ddim")
    mu, s = torch.tensor([1.0, -0.5]), 0.5
    abar = SCHEDULE.alphas_cumprod

    def model(x, t):        # E[eps | x_t] for data N(mu, s^2)
        a = abar[t].to(x.dtype).reshape(-1, 1)
        return (1 - a).sqrt() * (x - a.sqrt() * mu) / (a * s ** 2 + 1 - a)

    x_T = torch.randn(500, 2)
    ts = _timesteps_as_list("make_timesteps", ex.make_timesteps(25, 1000, "trailing"))
    x = x_T
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        x = ex.ddim_step(SCHEDULE, model(x, torch.full((500,), t)), t, t_prev, x, eta=0.0)
    want = samplers.sample(model, SCHEDULE, (500, 2), num_inference_steps=25, spacing="trailing",
                           sampler="ddim", eta=0.0, x_T=x_T, progress=False)
    expect_close("DDIM sampling with your make_timesteps and ddim_step (25 trailing steps)",
                 x, want, "the library's deterministic DDIM samples from the same x_T", atol=1e-4)
