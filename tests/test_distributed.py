"""Training at any scale: one process or several (DDP over gloo, launched by the test with
torchrun), gradient accumulation, checkpoints and resume, the command line's knobs.

The claim behind the sharded design (``training`` module docstring): a run depends on how
many shards make a step's global batch, not on how they are split between processes and
accumulation, so 2 processes end where 1 process with ``grad_accum=2`` ends.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from ddp_tiny import train_tiny  # noqa: E402

from diffusionlab.distributed import RunSettings, run_settings  # noqa: E402
from diffusionlab.training import ShardedLoss, fit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TQDM_DISABLE="1", HF_HUB_OFFLINE="1")
    return env


def _torchrun(*args, timeout=300):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           *args]
    return subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


class _Stop(Exception):
    pass


def _interrupt_at(step):
    def callback(s, loss):
        if s == step:
            raise _Stop()
    return callback


def test_resume_ends_where_the_uninterrupted_run_ends(tmp_path):
    state = tmp_path / "state"
    whole, whole_result = train_tiny(8)
    with pytest.raises(_Stop):          # killed after step 5; the state of step 4 is on disk
        train_tiny(8, callback=_interrupt_at(5), checkpoint_dir=str(state), checkpoint_every=4)
    assert json.loads((state / "state.json").read_text())["step"] == 4
    resumed, resumed_result = train_tiny(8, resume=str(state))
    assert _max_diff(resumed.state_dict(), whole.state_dict()) == 0.0
    assert _max_diff(resumed_result.ema.model.state_dict(),
                     whole_result.ema.model.state_dict()) == 0.0
    assert resumed_result.losses == whole_result.losses


def test_resume_checks_what_it_continues(tmp_path):
    state = tmp_path / "state"
    train_tiny(3, checkpoint_dir=str(state))              # the state of the end
    with pytest.raises(ValueError, match="nothing is left"):
        train_tiny(3, resume=str(state))
    with pytest.raises(ValueError, match="1 shards .* this run has 2"):
        train_tiny(5, resume=str(state), grad_accum=2)
    with pytest.raises(FileNotFoundError, match="not a training state folder"):
        train_tiny(5, resume=str(tmp_path))


def test_a_plain_loss_fn_cannot_be_split():
    model = torch.nn.Linear(2, 1)
    with run_settings(grad_accum=2), pytest.raises(ValueError, match="pass a ShardedLoss"):
        fit(model, lambda m, s: m.weight.sum(), 2, progress=False)
    with run_settings(resume="somewhere"), pytest.raises(ValueError, match="resume needs"):
        fit(model, lambda m, s: m.weight.sum(), 2, progress=False)


def test_accumulation_means_the_shards():
    """grad_accum=2 takes the mean of the two shards' gradients and logs their mean loss
    (lr 0: the weights stay, the gradient is left in .grad)."""
    def make(gen, shard):
        return lambda m, step: (m.weight * (shard + 1)).sum()
    model = torch.nn.Linear(3, 1, bias=False)
    with run_settings(grad_accum=2):
        result = fit(model, ShardedLoss(make), 1, lr=0.0, grad_clip=None, progress=False)
    assert result.losses == [pytest.approx(float(model.weight.detach().sum()) * 1.5)]
    assert torch.allclose(model.weight.grad, torch.full((1, 3), 1.5))


def test_run_settings_check_their_values():
    with pytest.raises(ValueError, match="precision must be one of"):
        RunSettings(precision="fp8")
    with pytest.raises(ValueError, match="grad_accum must be >= 1"):
        RunSettings(grad_accum=0)


def test_knobs_override_and_restore_a_recipes_constants():
    from diffusionlab.recipes import knobs_applied, load_recipe

    recipe = load_recipe("unet_pixel")
    before = dict(recipe.CONFIG)
    with knobs_applied(recipe, {"width": 24, "batch_size": 8, "resolution": 16}):
        assert recipe.CONFIG["base_channels"] == 24
        assert (recipe.BATCH_SIZE, recipe.IMAGE_SIZE) == (8, 16)
    assert recipe.CONFIG == before and recipe.BATCH_SIZE == 32 and recipe.IMAGE_SIZE == 32
    with pytest.raises(ValueError, match="has no resolution knob"):
        with knobs_applied(load_recipe("toy_8gaussians"), {"resolution": 64}):
            pass
    with pytest.raises(ValueError, match="--width must be a positive int"):
        with knobs_applied(recipe, {"width": 0}):
            pass


def test_structure_knob_switches_between_stock_and_course_classes():
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from diffusionlab.export import diffusers_unet, diffusers_vae
    from diffusionlab.export.compat import CourseAutoencoderKL, CourseUNet2DConditionModel
    from diffusionlab.nn.unet import UNet
    from diffusionlab.nn.vae import VAE
    from diffusionlab.recipes import knobs_applied, load_recipe

    vae_recipe, t2i = load_recipe("vae"), load_recipe("text2img")
    with knobs_applied(vae_recipe, {"structure": "course"}), \
            knobs_applied(t2i, {"structure": "course"}):
        vae = VAE(**vae_recipe.CONFIG)
        unet = UNet(**t2i.UNET_CONFIG, context_dim=16)
    assert type(diffusers_vae(vae)) is CourseAutoencoderKL
    assert type(diffusers_unet(unet)) is CourseUNet2DConditionModel
    # restored: the recipes' default (the shipped weights' structure) is diffusers' own
    assert type(diffusers_vae(VAE(**vae_recipe.CONFIG))) is AutoencoderKL
    assert type(diffusers_unet(UNet(**t2i.UNET_CONFIG, context_dim=16))) is UNet2DConditionModel
    with pytest.raises(ValueError, match="--structure must be one of course, diffusers"):
        with knobs_applied(vae_recipe, {"structure": "sdxl"}):
            pass
    with pytest.raises(ValueError, match="has no structure knob"):
        with knobs_applied(load_recipe("clip"), {"structure": "diffusers"}):
            pass


@pytest.mark.slow
def test_two_processes_end_where_one_process_with_the_same_global_batch_ends(tmp_path):
    """2 processes (gloo) x 1 shard each vs 1 process x grad_accum 2: the same 2 shards per
    step, so the same weights up to float rounding (reduction order, Adam's division)."""
    from safetensors.torch import load_file

    run = _torchrun("tests/ddp_tiny.py", str(tmp_path), "6")
    assert run.returncode == 0, run.stderr[-3000:]
    one, one_result = train_tiny(6, grad_accum=2)
    other, _ = train_tiny(6)                 # 1 shard: a different global batch
    two = load_file(str(tmp_path / "model.safetensors"))
    diff = _max_diff(one.state_dict(), two)
    assert diff < 5e-4
    assert _max_diff(one_result.ema.model.state_dict(),
                     load_file(str(tmp_path / "ema.safetensors"))) < 5e-4
    assert _max_diff(other.state_dict(), two) > 10 * diff
    losses = json.loads((tmp_path / "losses.json").read_text())
    assert losses == pytest.approx(one_result.losses, rel=1e-5)


@pytest.mark.slow
def test_two_processes_resume_where_they_stopped(tmp_path):
    """A 2-process run's training state (gathered to rank 0) resumes on 2 processes to the
    uninterrupted 2-process run, and on 1 process with grad_accum 2 to the same weights."""
    from safetensors.torch import load_file

    for args in (["whole", "6"], ["first", "4", "--checkpoint-dir", str(tmp_path / "state")],
                 ["resumed", "6", "--resume", str(tmp_path / "state")]):
        args[0] = str(tmp_path / args[0])
        run = _torchrun("tests/ddp_tiny.py", *args)
        assert run.returncode == 0, run.stderr[-3000:]
    whole = load_file(str(tmp_path / "whole" / "model.safetensors"))
    assert _max_diff(load_file(str(tmp_path / "resumed" / "model.safetensors")), whole) == 0.0
    one, _ = train_tiny(6, grad_accum=2, resume=str(tmp_path / "state"))
    assert _max_diff(one.state_dict(), whole) < 5e-4


@pytest.mark.slow
def test_train_command_under_torchrun(tmp_path):
    """``python -m diffusionlab train`` unchanged under a launcher: one manifest, written
    by rank 0, that records the processes and the backend."""
    out = tmp_path / "toy"
    run = _torchrun("-m", "diffusionlab", "train", "toy_8gaussians", "--out", str(out),
                    "--steps", "20", "--batch-size", "64", timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("trained toy_8gaussians") == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["processes"], manifest["backend"], manifest["precision"]) == (2, "gloo", "no")
    assert manifest["knobs"] == {"batch_size": 64} and manifest["global_batch"] == 128
    assert (out / "model.safetensors").is_file()
