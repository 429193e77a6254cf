"""Shared recipe of the three DreamBooth models (``dreambooth``, ``dreambooth_noprior``,
``dreambooth_lora``); see ``recipes/_personalize.py`` for the subject, the identifier, the
class images and the scores.

Training step (Ruiz et al. 2023, eq. 2; ``losses.dreambooth_loss``):

    x = [the 4 instance latents, twice]  with "a large something circle in the center", ...
      + [CLASS_PER_STEP class latents]   with their class prompts (generated before training)
    t ~ U{0..T-1}, eps ~ N(0, I) per row, one U-Net pass over the whole batch
    L = mean_inst || eps - eps_theta ||^2 + lambda mean_class || eps - eps_theta ||^2

with lambda = ``PRIOR_WEIGHT`` (the paper's 1) or 0 without prior preservation (then no
class rows at all). The text encoder and the VAE stay frozen. Full fine-tuning moves every
U-Net weight; the LoRA variant moves only rank-``LORA_RANK`` adapters on every attention
projection (``nn.lora.ATTENTION``), the U-Net frozen under them.

Shipping. A full fine-tune changes every weight, so "save only what changed" saves
everything; the two full models are stored in float16 (half the bytes) and what that costs is
measured (``fp16_round_trip`` in the manifest: the largest weight and pixel change, and the
subject fidelity at the training views before and after). The LoRA adapter is saved alone.
"""
from __future__ import annotations

import copy

from pathlib import Path

import torch

from ..checkpoints import load_checkpoint, max_weight_change, save_checkpoint_half, weights_path
from ..losses import dreambooth_loss
from ..nn.unet import UNet
from ..training import fit
from ._personalize import (class_latents, dreambooth_prompt, file_bytes, instance_data,
                           personalization_scores, pipe_with_unet)

DEFAULT_STEPS = 300
LR = 2e-4
LORA_LR = 2e-3
LORA_RANK = 4
WARMUP = 20
INSTANCE_REPEAT = 2               # the 4 instance images appear twice per batch (new noise)
CLASS_PER_STEP = 8
PRIOR_WEIGHT = 1.0


def make_loss_fn(schedule, instance: dict, prior: dict | None, prior_weight: float = PRIOR_WEIGHT,
                 class_per_step: int = CLASS_PER_STEP, seed: int = 0,
                 prediction_type: str = "epsilon"):
    """``loss_fn(unet, step)`` for ``fit``: the DreamBooth loss on the instance latents
    (repeated ``INSTANCE_REPEAT`` times) and, with ``prior``, ``class_per_step`` random
    class latents."""
    gen = torch.Generator().manual_seed(seed)
    x_inst = instance["latents"].repeat(INSTANCE_REPEAT, 1, 1, 1)
    c_inst = instance["states"].repeat(INSTANCE_REPEAT, 1, 1)

    def loss_fn(unet, step):
        if prior is None:
            return dreambooth_loss(unet, schedule, x_inst, c_inst,
                                   prediction_type=prediction_type, generator=gen)
        idx = torch.randint(0, prior["latents"].shape[0], (class_per_step,), generator=gen)
        return dreambooth_loss(unet, schedule, x_inst, c_inst, prior["latents"][idx],
                               prior["states"][idx], prior_weight, prediction_type, gen)

    return loss_fn


save_half = save_checkpoint_half          # float16 weights (checkpoints.save_checkpoint_half)


@torch.no_grad()
def fp16_effect(base, unet32, unet16) -> dict:
    """What storing the weights in float16 changes: the largest weight change, and the
    subject's images at the 4 training views (same noise) before and after the round trip:
    their largest pixel difference and the subject fidelity of each."""
    from ..metrics.subject import subject_fidelity
    from ._personalize import INSTANCE_VIEWS, PER_VIEW, views_images

    images = [views_images(pipe_with_unet(base, u), dreambooth_prompt, INSTANCE_VIEWS, PER_VIEW)
              for u in (unet32, unet16)]
    return {"max_abs_weight_change": max_weight_change(unet32, unet16),
            "max_abs_pixel_change": round(float((images[0] - images[1]).abs().max()), 4),
            "fidelity_fp32": subject_fidelity(images[0]),
            "fidelity_fp16": subject_fidelity(images[1])}


def load_pipe(directory, lora: bool, base=None):
    """The pipeline with the fine-tuned U-Net (or the base U-Net plus the adapter)."""
    from ..nn.lora import load_lora
    from ..pipelines import TextToImage

    base = TextToImage.pretrained() if base is None else base
    if lora:
        unet = load_lora(copy.deepcopy(base.unet), directory, base_model="text2img")
    else:
        unet = load_checkpoint(UNet, directory)
    return pipe_with_unet(base, unet.eval())


def train(out: Path, prior: bool, lora: bool, steps: int = DEFAULT_STEPS, seed: int = 0) -> dict:
    from ..nn.lora import ATTENTION, count_lora_parameters, inject_lora, save_lora
    from ..pipelines import TextToImage

    out = Path(out)
    torch.manual_seed(seed)
    base = TextToImage.pretrained()
    import time
    start = time.perf_counter()
    instance = instance_data(base)
    prior_data = class_latents(base) if prior else None
    prep_seconds = time.perf_counter() - start
    unet = copy.deepcopy(base.unet).train()
    total = sum(p.numel() for p in unet.parameters())
    params = None
    if lora:
        params = inject_lora(unet, ATTENTION, rank=LORA_RANK, alpha=LORA_RANK)
    trainable = sum(p.numel() for p in (unet.parameters() if params is None else params))
    loss_fn = make_loss_fn(base.schedule, instance, prior_data, seed=seed,
                           prediction_type=base.prediction_type)
    result = fit(unet, loss_fn, steps, lr=LORA_LR if lora else LR, warmup=WARMUP,
                 params=params, desc="dreambooth" + ("_lora" if lora else ""))
    unet.eval()
    info = {"prior_preservation": prior, "prior_weight": PRIOR_WEIGHT if prior else 0.0,
            "lr": LORA_LR if lora else LR, "instance_images": int(instance["latents"].shape[0]),
            "instance_prompts": instance["prompts"], "batch_size":
                instance["latents"].shape[0] * INSTANCE_REPEAT + (CLASS_PER_STEP if prior else 0),
            "class_images": 0 if prior_data is None else int(prior_data["latents"].shape[0]),
            "trainable_parameters": trainable, "unet_parameters": total,
            "prep_seconds": round(prep_seconds, 1), "train_seconds": round(result.seconds, 1)}
    if lora:
        info.update(lora_rank=LORA_RANK, lora_targets="attention",
                    lora_parameters=count_lora_parameters(unet))
        save_lora(unet, out, base_model="text2img", target_modules=ATTENTION)
    else:
        save_half(unet, out)
        info["dtype_saved"] = "float16"
        info["fp16_round_trip"] = fp16_effect(base, unet, load_checkpoint(UNet, out))
    (out / "scheduler_config.json").write_text(
        (weights_path("text2img") / "scheduler_config.json").read_text())
    info["file_bytes"] = file_bytes(out)
    info["scores"] = score(out, lora)
    tail = result.losses[-50:]
    info["final_loss_mean_last_50"] = round(sum(tail) / len(tail), 4)
    return info


def score(directory, lora: bool) -> dict:
    return personalization_scores(load_pipe(directory, lora), dreambooth_prompt)


def make_recipe(prior: bool, lora: bool = False):
    """``train`` and ``score`` for one variant."""

    def train_variant(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0) -> dict:
        return train(out, prior, lora, steps=steps, seed=seed)

    def score_variant(directory: Path) -> dict:
        return score(directory, lora)

    return train_variant, score_variant



