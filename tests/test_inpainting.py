"""Inpainting and img2img: the replacement step, the blend, the sampler's step callback and
RePaint resampling, the pipelines' checks and (slow) the shipped 9-channel model."""
import pytest
import torch

from diffusionlab.data.edits import make_edit_scenes
from diffusionlab.data.shapes import make_shapes
from diffusionlab.forward import q_sample
from diffusionlab.inpainting import (
    blend_weights,
    composite,
    img2img_start,
    latent_mask,
    masked_image,
    replace_known,
)
from diffusionlab.metrics.images import mask_iou, object_mask, seam_error
from diffusionlab.pipelines import ImageToImage, InpaintPipeline, TextToImage
from diffusionlab.samplers import SchedulerConfig, sample
from diffusionlab.schedules import make_schedule

SCHEDULE = make_schedule("scaled_linear")


def test_replace_known_keeps_the_fill_and_noises_the_known():
    x = torch.randn(2, 4, 8, 8)
    known, noise = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    m = torch.zeros(2, 1, 8, 8)
    m[..., :, 4:] = 1
    out = replace_known(x, known, m, SCHEDULE, 300, noise)
    assert torch.equal(out[..., 4:], x[..., 4:])
    want = q_sample(SCHEDULE, known, torch.full((2,), 300), noise)
    assert torch.allclose(out[..., :4], want[..., :4])
    last = replace_known(x, known, m, SCHEDULE, -1, noise)      # the clean known latents
    assert torch.equal(last[..., :4], known[..., :4])


def test_latent_mask_covers_every_masked_pixel():
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 5, 9] = 1                                  # one pixel
    m = latent_mask(mask, 4)
    assert m.shape == (1, 1, 8, 8) and m.sum() == 1 and m[0, 0, 1, 2] == 1


def test_blend_is_exact_beyond_two_pixels_and_full_on_the_mask():
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 6:10, 6:10] = 1
    w = blend_weights(mask, 2)
    assert torch.all(w[mask > 0] == 1)
    assert w[0, 0, 5, 8] == pytest.approx(2 / 3) and w[0, 0, 4, 8] == pytest.approx(1 / 3)
    assert torch.all(w[0, 0, :4] == 0) and torch.all(w[0, 0, :, 12:] == 0)
    a, b = torch.ones(1, 3, 16, 16), -torch.ones(1, 3, 16, 16)
    out = composite(a, b, mask, 2)
    assert torch.equal(out[..., :4, :], b[..., :4, :])


def test_masked_image_blanks_the_hole_to_grey():
    img = torch.full((1, 3, 4, 4), -1.0)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 1
    out = masked_image(img, mask)
    assert torch.all(out[..., :2] == 0) and torch.all(out[..., 2:] == -1)


@pytest.mark.parametrize("n,strength,start", [(20, 0.0, 20), (20, 0.6, 8), (20, 1.0, 0),
                                              (10, 0.25, 8), (7, 0.5, 4)])
def test_img2img_start_matches_diffusers(n, strength, start):
    # diffusers: init = min(int(n * strength), n); t_start = max(n - init, 0)
    assert img2img_start(n, strength) == start


def test_sample_callback_replaces_the_state_and_resample_repeats_steps():
    calls = []

    def model(x, t):
        return torch.zeros_like(x)

    def cb(i, t, t_prev, step):
        calls.append((i, t, t_prev))
        return torch.full_like(step.prev_sample, 0.5) if i == 1 else None

    ts = torch.tensor([900, 600, 300, 0])
    x = sample(model, SCHEDULE, (1, 2), timesteps=ts, seed=0, callback=cb, progress=False)
    assert [c[0] for c in calls] == [0, 1, 2, 3] and calls[-1][2] == -1
    calls.clear()
    sample(model, SCHEDULE, (1, 2), timesteps=ts, seed=0, callback=cb, resample=3,
           progress=False)
    # every step but the last (to t_prev = -1, nothing to re-noise) runs 3 times
    assert [c[0] for c in calls] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    assert x.shape == (1, 2)
    with pytest.raises(ValueError, match="shape"):
        sample(model, SCHEDULE, (1, 2), timesteps=ts, callback=lambda *a: torch.zeros(3),
               progress=False)


def test_scheduler_config_round_trip_and_checks(tmp_path):
    cfg = SchedulerConfig(schedule="cosine", prediction_type="v_prediction", steps_offset=1)
    cfg.save(tmp_path)
    assert SchedulerConfig.load(tmp_path) == cfg
    assert torch.equal(cfg.make_schedule().betas, make_schedule("cosine").betas)
    with pytest.raises(ValueError, match="prediction_type"):
        SchedulerConfig(prediction_type="noise")
    (tmp_path / SchedulerConfig.FILENAME).write_text('{"schedule": "linear", "typo": 1}')
    with pytest.raises(ValueError, match="typo"):
        SchedulerConfig.load(tmp_path)
    shipped = TextToImage.pretrained().scheduler_config
    assert shipped.schedule == "scaled_linear" and shipped.steps_offset == 1


@pytest.fixture(scope="module")
def toy(tiny_sd_parts):
    clip, vae, unet = tiny_sd_parts()
    inpaint = tiny_sd_parts(conditioning_channels=5)[2]
    sched = make_schedule("scaled_linear")
    return (InpaintPipeline(unet, vae, clip, sched, inpaint),
            ImageToImage(unet, vae, clip, sched))


@pytest.mark.parametrize("method,resample", [("replace", 1), ("replace", 2), ("model", 1)])
def test_inpaint_keeps_pixels_beyond_two_of_the_mask(toy, method, resample):
    pipe, _ = toy
    scenes = make_edit_scenes(3, seed=4, kinds=("box",))
    out = pipe(scenes.captions, image=scenes.images, mask_image=scenes.masks, method=method,
               resample=resample, num_inference_steps=3, progress=False).images
    far = 1 - torch.nn.functional.max_pool2d(scenes.masks, 5, stride=1, padding=2)
    assert torch.equal(out * far, scenes.images * far)
    assert (out - scenes.images).abs().flatten(1).amax(1).min() > 0      # something was filled


@pytest.mark.parametrize("kwargs,match", [
    (dict(mask_image=torch.full((1, 1, 32, 32), 1.5)), r"\[0, 1\]"),
    (dict(mask_image=torch.zeros(1, 3, 32, 32)), "shape"),
    (dict(image=torch.full((1, 3, 32, 32), 2.0)), r"\[-1, 1\]"),
    (dict(image=torch.zeros(1, 3, 16, 16)), "32x32"),
    (dict(method="magic"), "method"),
    (dict(method="model", resample=3), "replace"),
])
def test_inpaint_rejects_bad_input(toy, kwargs, match):
    pipe, _ = toy
    args = dict(image=torch.zeros(1, 3, 32, 32), mask_image=torch.zeros(1, 1, 32, 32))
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        pipe("a circle", num_inference_steps=2, progress=False, **args)


def test_img2img_strength_zero_is_the_vae_round_trip_and_checks(toy):
    _, pipe = toy
    images = make_shapes(2, seed=1).images
    out = pipe("a circle", image=images, strength=0.0, progress=False)
    assert torch.allclose(out.images, pipe.decode(pipe.encode_images(images)))
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="strength"):
            pipe("a circle", image=images, strength=bad)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        pipe("a circle", image=images * 3, strength=0.5)


def test_seam_error_sees_a_cut_object():
    img = torch.full((1, 3, 8, 8), -1.0)
    img[..., 2:6, 2:6] = 1.0
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :, 4:] = 1
    cut = img.clone()
    cut[..., 4:] = -1.0                                 # the fill forgot the object's half
    assert seam_error(cut, mask) > seam_error(img, mask) + 0.5
    assert mask_iou(object_mask(img), object_mask(img)).item() == 1.0


@pytest.mark.slow
def test_shipped_inpainting_model_meets_its_manifest():
    from diffusionlab.checkpoints import read_manifest, weights_path
    from diffusionlab.metrics.evaluator import ShapesEvaluator
    from diffusionlab.recipes.inpaint import eval_scenes, evaluate

    scores = read_manifest(weights_path("inpaint"))["scores"]
    pipe, ev = InpaintPipeline.pretrained(), ShapesEvaluator.pretrained()
    box = eval_scenes("box", n=64)
    model, replace = evaluate(pipe, "model", box, ev), evaluate(pipe, "replace", box, ev)
    assert float(model["fill_correct"].mean()) >= scores["model_fill_accuracy"] - 0.1
    # pixels beyond the 2-pixel blend are the input's own; within it, closer than the VAE's
    # round trip, and closer with the model (which sees the kept pixels) than with replacement
    assert model["kept_psnr"] >= model["kept_psnr_vae"] + 10
    assert model["kept_psnr"] > replace["kept_psnr"]
