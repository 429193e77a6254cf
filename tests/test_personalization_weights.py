"""The shipped personalization models of lesson 13 still score what their manifests say."""
import os

import pytest
import torch

from diffusionlab.checkpoints import read_manifest, weights_path

pytestmark = pytest.mark.slow
NAMES = ("dreambooth", "dreambooth_noprior", "dreambooth_lora", "textual_inversion")
KEYS = ("fidelity", "recontext", "class_accuracy", "class_leak", "prompt_accuracy")


@pytest.fixture(scope="module")
def rescored():
    from diffusionlab.recipes import load_recipe

    return {n: load_recipe(n).score(weights_path(n)) for n in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_scores_match_the_manifest(rescored, name):
    shipped = read_manifest(weights_path(name))["scores"]
    for k in KEYS:
        assert abs(rescored[name][k] - shipped[k]) <= 0.05, (name, k, rescored[name][k], shipped[k])


def test_the_claims_of_lesson_13(rescored):
    db, nop, lora, ti = (rescored[n] for n in NAMES)
    for s in (nop, lora):
        assert s["fidelity"] >= 0.5                       # the subject was learned
    assert 0.2 <= db["fidelity"] <= nop["fidelity"]       # with the prior too, at a price
    assert nop["class_leak"] > db["class_leak"]           # prior preservation holds the class word
    assert db["class_accuracy"] >= nop["class_accuracy"]
    assert ti["class_accuracy"] >= 0.9                    # textual inversion changes no weight


def test_sizes_and_trained_parameters():
    from safetensors.torch import load_file

    m = {n: read_manifest(weights_path(n)) for n in NAMES}
    total = sum(os.path.getsize(weights_path(n) / "model.safetensors") for n in NAMES)
    assert total <= 9e6                                  # the lesson's weights budget
    vec = load_file(str(weights_path("textual_inversion") / "model.safetensors"))
    assert list(vec) == ["<sks>"] and vec["<sks>"].shape == (64,)
    assert m["textual_inversion"]["trainable_parameters"] == 64
    assert m["dreambooth_lora"]["trainable_parameters"] < 0.2 * m["dreambooth"]["trainable_parameters"]
    full = load_file(str(weights_path("dreambooth") / "model.safetensors"))
    assert all(v.dtype == torch.float16 for v in full.values())
