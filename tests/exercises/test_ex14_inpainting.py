"""Graded tests for exercises/ex14_inpainting.py (see conftest.py for how the folder is chosen)."""
import pytest
import torch

from diffusionlab import inpainting
from diffusionlab.grading import expect_close, expect_tensor
from diffusionlab.schedules import make_schedule

SCHEDULE = make_schedule("scaled_linear")

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "replace_known": ("diffusionlab.inpainting.replace_known", "diffusionlab.forward.q_sample"),
    "img2img_start": "diffusionlab.inpainting.img2img_start",
}


def _case(dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 4, 8, 8, generator=g).to(dtype)
    known = torch.randn(2, 4, 8, 8, generator=g).to(dtype)
    noise = torch.randn(2, 4, 8, 8, generator=g).to(dtype)
    mask = torch.zeros(2, 1, 8, 8, dtype=dtype)
    mask[0, :, :, 5:] = 1
    mask[1, :, 2:6, 1:4] = 1
    return x, known, mask, noise


def test_replace_known_matches_eq8(exercise):
    ex = exercise("ex14_inpainting")
    x, known, mask, noise = _case()
    for t_prev in (980, 500, 20, 0):
        got = ex.replace_known(x.clone(), known.clone(), mask, SCHEDULE, t_prev, noise.clone())
        ref = inpainting.replace_known(x, known, mask, SCHEDULE, t_prev, noise)
        expect_close(f"replace_known(t_prev={t_prev})",
                     expect_tensor("replace_known", got, x.shape), ref,
                     "mask * x_prev + (1 - mask) (sqrt(abar) known + sqrt(1 - abar) noise)")


def test_replace_known_keeps_the_fill_untouched(exercise):
    ex = exercise("ex14_inpainting")
    x, known, mask, noise = _case(seed=1)
    got = ex.replace_known(x, known, mask, SCHEDULE, 600, noise)
    fill = mask.expand_as(x) > 0
    assert torch.equal(got[fill], x[fill]), \
        "replace_known: where mask is 1 (fill) the sampler's x_prev must be kept as it is " \
        "(mask = 1 means fill, 0 means keep, as in diffusers)"


def test_replace_known_at_the_last_step_puts_the_clean_latents(exercise):
    ex = exercise("ex14_inpainting")
    x, known, mask, noise = _case(seed=2)
    got = ex.replace_known(x, known, mask, SCHEDULE, -1, noise)
    keep = mask.expand_as(x) == 0
    err = (got[keep] - known[keep]).abs().max().item()
    assert err < 1e-6, \
        f"replace_known(t_prev=-1): the kept region must be the clean latents (abar = 1), " \
        f"off by {err:.3g}; alphas_cumprod[-1] is the last, noisiest entry"


def test_replace_known_keeps_float32(exercise):
    ex = exercise("ex14_inpainting")
    x, known, mask, noise = _case(seed=3)
    got = ex.replace_known(x, known, mask, SCHEDULE, 400, noise)
    assert got.dtype == torch.float32, \
        f"replace_known: float32 in, float32 out (the schedule is float64), got {got.dtype}"


@pytest.mark.parametrize("n,strength", [(20, 0.0), (20, 0.6), (20, 1.0), (10, 0.25), (7, 0.5),
                                        (50, 0.33), (3, 0.99)])
def test_img2img_start_matches_diffusers(exercise, n, strength):
    ex = exercise("ex14_inpainting")
    got = ex.img2img_start(n, strength)
    want = inpainting.img2img_start(n, strength)
    assert isinstance(got, int) and got == want, \
        f"img2img_start({n}, {strength}): expected {want} (n - min(int(n * strength), n)), got {got!r}"


def test_img2img_start_rejects_bad_strength(exercise):
    ex = exercise("ex14_inpainting")
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="strength"):
            ex.img2img_start(20, bad)
