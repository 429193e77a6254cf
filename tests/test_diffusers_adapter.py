"""The diffusers adapter: diffusers' schedulers driving the course's U-Net give the course's
own images (diffusers is a reference, installed with the course; skipped without it)."""
import dataclasses
import sys

import pytest

from diffusionlab.pipelines import TextToImage

diffusers = pytest.importorskip("diffusers")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PROMPTS = ["a large red circle at the top left", "a small blue square"]


@pytest.fixture(scope="module")
def pipe():
    return TextToImage.pretrained()


@pytest.mark.parametrize("cls,sampler,n", [("DDIMScheduler", "ddim", 6),
                                           ("DPMSolverMultistepScheduler", "dpmsolver++", 6)])
def test_diffusers_scheduler_gives_the_course_images(pipe, cls, sampler, n):
    from diffusionlab.diffusers_adapter import generate_with_scheduler, make_scheduler

    sched = make_scheduler(getattr(diffusers, cls), pipe.scheduler_config)
    theirs, ts = generate_with_scheduler(pipe, PROMPTS, sched, n, seed=3)
    args = pipe.check_call(PROMPTS, num_inference_steps=n, seed=3, progress=False)
    ours = pipe.generate(dataclasses.replace(args, sampler=sampler), timesteps=ts.long()).images
    assert (ours - theirs).abs().max() < 1e-3
    other = pipe.generate(dataclasses.replace(args, sampler="ddpm"), timesteps=ts.long()).images
    assert (other - theirs).abs().max() > 0.1     # the comparison can fail


def test_library_does_not_import_diffusers():
    import subprocess

    code = ("import sys, diffusionlab, diffusionlab.pipelines, diffusionlab.samplers, "
            "diffusionlab.diffusers_adapter; print('diffusers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_make_scheduler_bad_input(pipe):
    from diffusionlab.diffusers_adapter import make_scheduler

    with pytest.raises(TypeError, match="config must be a SchedulerConfig"):
        make_scheduler(diffusers.DDIMScheduler, {"schedule": "linear"})
    with pytest.raises(TypeError, match="scheduler_class must be a diffusers scheduler class"):
        make_scheduler("DDIMScheduler", pipe.scheduler_config)
