"""The LoRA recipes' pieces (fast, on a tiny untrained stack) and the shipped adapters' key
scores (slow)."""
import json

import pytest
import torch

from diffusionlab.nn.lora import ATTENTION, CROSS_ATTENTION, lora_layers
from diffusionlab.recipes import _lora, lora_sweep
from diffusionlab.schedules import make_schedule


@pytest.fixture
def pipe(tiny_sd_parts):
    from diffusionlab.pipelines import TextToImage

    clip, vae, unet = tiny_sd_parts()
    return TextToImage(unet, vae, clip, make_schedule("scaled_linear"), "epsilon")


def test_equal_budgets_are_close(pipe):
    budget = lora_sweep.lora_budget(pipe.unet, ATTENTION, 4)
    for name, (set_name, targets, rank) in lora_sweep.variants(pipe.unet).items():
        n = lora_sweep.lora_budget(pipe.unet, targets, rank)
        if name in lora_sweep.OTHER_SETS:
            assert abs(n - budget) / budget < 0.35, (name, n, budget)
        else:
            assert n == rank * lora_sweep.lora_budget(pipe.unet, targets, 1)  # linear in r
    assert not lora_layers(pipe.unet)             # counting left no adapter behind
    assert lora_sweep.equal_budget_rank(pipe.unet, CROSS_ATTENTION, budget) > 4


def test_train_and_save_a_tiny_adapter(pipe, tmp_path, monkeypatch):
    monkeypatch.setattr(_lora, "BATCH_SIZE", 4)
    data = _lora.encode_style_data(pipe, n=16, seed=3)
    assert data["latents"].shape == (16, 4, 8, 8) and data["states"].shape[0] > 1
    assert int(data["styled"].sum()) > 0
    before = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    info = _lora.train_and_save(tmp_path / "ad", ATTENTION, 2, steps=3, seed=0, data=data,
                                pipe=pipe, do_score=False)
    assert info["trainable_parameters"] == lora_sweep.lora_budget(pipe.unet, ATTENTION, 2)
    assert info["file_bytes"] == (tmp_path / "ad" / "model.safetensors").stat().st_size
    cfg = json.loads((tmp_path / "ad" / "config.json").read_text())["config"]
    assert cfg["base_model"] == "text2img" and cfg["rank"] == 2
    after = pipe.unet.state_dict()                # the base U-Net untouched, adapter removed
    assert set(after) == set(before) and all(torch.equal(after[k], before[k]) for k in before)


def test_eval_prompts_are_large_and_held_out():
    prompts = _lora.eval_prompts(20)
    assert all(p.startswith("a large ") for p in prompts)
    assert len(set(prompts)) > 10


@pytest.mark.slow
def test_shipped_outlined_adapter_keeps_its_scores():
    from diffusionlab.checkpoints import read_manifest, weights_path
    from diffusionlab.pipelines import TextToImage

    manifest = read_manifest(weights_path("lora_outlined"))
    pipe = TextToImage.pretrained()
    base = _lora.adapter_scores(pipe, n=64)
    pipe.load_lora("lora_outlined")
    got = _lora.adapter_scores(pipe, n=64)
    assert got["style_triggered"] >= manifest["scores"]["style_triggered"] - 0.15
    assert got["style_triggered"] > base["style_triggered"] + 0.3
    assert got["style_plain"] <= 0.2
    assert got["prompt_accuracy_plain"] >= base["prompt_accuracy_plain"] - 0.08
    assert manifest["file_bytes"] < 500_000


@pytest.mark.slow
def test_shipped_sweep_adapters_load_and_draw_the_style():
    from diffusionlab.checkpoints import WEIGHTS_DIR
    from diffusionlab.pipelines import TextToImage

    pipe = TextToImage.pretrained()
    for folder in sorted((WEIGHTS_DIR / "lora_sweep").iterdir()):
        if not (folder / "model.safetensors").is_file():
            continue
        manifest = json.loads((folder / "manifest.json").read_text())
        name = pipe.load_lora(folder)
        got = _lora.adapter_scores(pipe, n=48)
        assert got["style_triggered"] >= manifest["scores"]["style_triggered"] - 0.2, folder.name
        pipe.unload_lora(name)
