"""Latent consistency distillation (lesson 15): the pieces of ``diffusionlab.distillation``,
the recipe's loss on a tiny untrained stack, the distilled pipeline's mechanics and refusals,
and (slow) the shipped student's scores."""
import json

import pytest
import torch

from diffusionlab import distillation
from diffusionlab.pipelines import DistilledTextToImage
from diffusionlab.samplers import consistency_scalings, ddim_step, lcm_timesteps, sample
from diffusionlab.schedules import make_schedule

S = make_schedule("scaled_linear")


def test_consistency_scalings_satisfy_the_boundary_condition():
    c_skip, c_out = consistency_scalings(torch.tensor([0, 1, 19, 999]))
    assert c_skip[0] == 1.0 and c_out[0] == 0.0          # f(x, 0) = x exactly
    assert c_skip[1] < 0.01 and c_out[1] > 0.99           # ~ the x0 prediction from t = 1 on
    assert bool((c_skip[1:] < 1e-2).all())


def test_guided_solver_step_is_a_cfg_ddim_step_per_sample():
    g = torch.Generator().manual_seed(0)
    z, e_u, e_c = (torch.randn(3, 4, 2, 2, generator=g, dtype=torch.float64) for _ in range(3))
    t, t_prev = torch.tensor([999, 519, 19]), torch.tensor([979, 499, -1])
    got = distillation.guided_ddim_solver_step(S, e_u, e_c, 3.0, z, t, t_prev)
    for i in range(3):
        eps = e_u[i:i + 1] + 3.0 * (e_c[i:i + 1] - e_u[i:i + 1])
        want = ddim_step(S, eps, int(t[i]), int(t_prev[i]), z[i:i + 1]).prev_sample
        torch.testing.assert_close(got[i:i + 1], want)


def test_consistency_target_uses_the_boundary_at_the_clean_end():
    z = torch.randn(2, 4, 2, 2)
    target = distillation.consistency_target(lambda x, t: x * 0 + 7.0, z, torch.tensor([-1, 20]))
    torch.testing.assert_close(target[0], z[0])
    assert bool((target[1] == 7.0).all())


def test_pseudo_huber_is_quadratic_near_zero_and_linear_far():
    a = torch.zeros(1, 4)
    small, big = torch.full((1, 4), 1e-4), torch.full((1, 4), 10.0)
    c = 0.01
    assert distillation.pseudo_huber(small, a, c).item() == pytest.approx(
        (4 * 1e-8) / (2 * c), rel=0.01)
    assert distillation.pseudo_huber(big, a, c).item() == pytest.approx(20.0 - c, rel=1e-3)
    with pytest.raises(ValueError, match="c must be >= 0"):
        distillation.pseudo_huber(a, a, -1.0)


def test_recipe_loss_runs_and_has_gradients(tiny_sd_parts):
    from diffusionlab.recipes import text2img_distilled as recipe

    clip, vae, unet = tiny_sd_parts()
    data = {"latents": torch.randn(16, unet.in_channels, 8, 8),
            "states": clip.token_states(["", "a red circle", "a blue square"]),
            "caption_index": torch.tensor([1, 2] * 8)}
    student = __import__("copy").deepcopy(unet)
    loss_fn = recipe.make_loss_fn(unet, S, data, batch_size=4, seed=0)
    loss = loss_fn(student, 0)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in student.parameters() if p.requires_grad)
    assert not any(p.requires_grad for p in unet.parameters())      # the teacher is frozen


def test_lcm_sampling_is_seeded_and_visits_the_skeleton():
    model = lambda x, t: 0.1 * x      # noqa: E731
    a = sample(model, S, (4, 2), sampler="lcm", timesteps=lcm_timesteps(4), seed=3, progress=False)
    b = sample(model, S, (4, 2), sampler="lcm", timesteps=lcm_timesteps(4), seed=3, progress=False)
    assert torch.equal(a, b)
    assert set(lcm_timesteps(8).tolist()) <= set(range(19, 1000, 20))


@pytest.fixture(scope="module")
def toy_student(tiny_sd_parts, tmp_path_factory):
    from diffusionlab.checkpoints import save_checkpoint
    from diffusionlab.recipes.text2img_distilled import SchedulerConfig

    clip, vae, unet = tiny_sd_parts()
    d = tmp_path_factory.mktemp("student")
    save_checkpoint(unet, d)
    SchedulerConfig(steps_offset=1).save(d)
    (d / "distillation.json").write_text(json.dumps(
        {"guidance_scale": 3.0, "distilled_steps": [1, 2, 4], "max_steps": 8,
         "origin_steps": 50}))
    return DistilledTextToImage.from_directory(d, vae=vae, clip=clip)


def test_student_runs_one_pass_per_step(toy_student):
    calls = []
    h = toy_student.unet.register_forward_hook(lambda m, a, o: calls.append(a[0].shape[0]))
    try:
        out = toy_student(["a red circle", "a blue square"], num_inference_steps=4, progress=False)
    finally:
        h.remove()
    assert out.images.shape == (2, 3, 32, 32)
    assert calls == [2, 2, 2, 2]                    # no unconditional branch


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_inference_steps=9), "num_inference_steps must be at most 8"),
    (dict(num_inference_steps=0), "num_inference_steps must be >= 1"),
    (dict(guidance_scale=7.5), "guidance_scale is distilled into this student at 3"),
    (dict(negative_prompt="red"), "negative_prompt must be None"),
])
def test_student_refuses_what_it_cannot_do(toy_student, kwargs, match):
    with pytest.raises(ValueError, match=match):
        toy_student("a circle", progress=False, **kwargs)


def test_a_plain_checkpoint_is_not_a_student(tiny_sd_parts, tmp_path):
    from diffusionlab.checkpoints import save_checkpoint
    from diffusionlab.samplers import SchedulerConfig

    clip, vae, unet = tiny_sd_parts()
    save_checkpoint(unet, tmp_path)
    SchedulerConfig().save(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a distilled model"):
        DistilledTextToImage.from_directory(tmp_path, vae=vae, clip=clip)


# ----------------------------------------------------------------------- the shipped student
def _student_shipped() -> bool:
    from diffusionlab.checkpoints import WEIGHTS_DIR

    return (WEIGHTS_DIR / "text2img_distilled" / "manifest.json").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not _student_shipped(), reason="weights/text2img_distilled is not shipped yet: "
                    "python -m diffusionlab train text2img_distilled --out "
                    "diffusionlab/weights/text2img_distilled")
def test_shipped_student_four_steps_is_accurate():
    from diffusionlab.checkpoints import read_manifest, weights_path
    from diffusionlab.metrics.evaluator import ShapesEvaluator
    from diffusionlab.recipes import text2img

    scores = read_manifest(weights_path("text2img_distilled"))["scores"]
    student, evaluator = DistilledTextToImage.pretrained(), ShapesEvaluator.pretrained()
    acc = text2img.prompt_accuracy_by_scale(student, evaluator, (3.0,), num_inference_steps=4)[3.0]
    assert acc == pytest.approx(scores["student_4_prompt_accuracy"], abs=0.02)
    assert acc >= scores["teacher_ddim_4_prompt_accuracy"] - 0.02
