"""Recipe: the naive alternative to ControlNet (``weights/control_finetune``), for lesson 11.

D31-Q8's one-line answer leaves out why ControlNet is built the way it is. The obvious
alternative: give the U-Net the edge map as extra input channels and fine-tune all of it.
Here the 1 x 32 x 32 map is folded onto the 8 x 8 latent grid (``pixel_unshuffle``: 16
channels), appended to the latents, and the shipped U-Net is fine-tuned whole, its new input
weights starting at 0 (``inpaint.widen_unet``), on the same free-form scenes and edge maps
as ``controlnet_edges``, for the same number of steps.

What it costs, measured in ``score`` and lesson 11: every U-Net weight is trained (ControlNet
trains a copy of half of them and leaves the original untouched), and the model forgets what
the free-form captions never say: asked for "a small red circle at the top left" with an
empty map, its prompt accuracy drops below the shipped model's, while a ControlNet at
conditioning scale 0 *is* the shipped model.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checkpoints import load_checkpoint, save_checkpoint
from ..data.freeform import make_free_shapes
from ..losses import diffusion_loss
from ..nn.unet import ExtraInputUNet, UNet
from ..training import fit
from ._controlnet import (BATCH_SIZE, DEFAULT_STEPS, EMA_DECAY, LR, N_TRAIN, TRAIN_SEED, WARMUP,
                          encode_scenes)
from .inpaint import widen_unet

FOLD = 4                     # pixels per latent cell along each side: 1 map channel -> 16


def fold_map(maps: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) maps -> (B, 16, H/4, W/4): each latent cell gets its 4 x 4 pixels."""
    return F.pixel_unshuffle(maps, FOLD)


@torch.no_grad()
def generate(pipe, unet: UNet, prompts, maps: torch.Tensor, seed: int = 0, **kwargs):
    """Images from the fine-tuned U-Net for ``prompts`` and ``maps`` (zeros = no control)."""
    args = pipe.check_call(prompts, seed=seed, progress=False, **kwargs)
    return pipe.generate(args, unet=ExtraInputUNet(unet, fold_map(maps.to(pipe.device)))).images


def score(directory) -> dict:
    from ..metrics.evaluator import ShapesEvaluator
    from ..metrics.images import mask_iou, object_mask
    from ..pipelines import TextToImage
    from . import text2img

    pipe, evaluator = TextToImage.pretrained(), ShapesEvaluator.pretrained()
    unet = load_checkpoint(UNet, directory)
    held = make_free_shapes(256, seed=909_090, empty_caption_rate=0.0)
    images = generate(pipe, unet, held.captions, held.edges)
    colors = [p["color"] for p in evaluator.predict(images)]
    prompts = text2img.eval_prompts()
    empty = torch.zeros(len(prompts), 1, 32, 32)
    return {"iou": round(float(mask_iou(object_mask(images), held.masks).mean()), 4),
            "color_accuracy": sum(c == a["color"] for c, a in zip(colors, held.attributes)) / 256,
            "prompt_accuracy_no_map": evaluator.prompt_accuracy(
                generate(pipe, unet, prompts, empty), prompts),
            "prompt_accuracy_base": evaluator.prompt_accuracy(
                pipe(prompts, seed=0, progress=False).images, prompts)}


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0, n_train: int = N_TRAIN) -> dict:
    from ..pipelines import TextToImage

    out = Path(out)
    torch.manual_seed(seed)
    pipe = TextToImage.pretrained()
    batch = make_free_shapes(n_train, seed=TRAIN_SEED + seed)
    data = encode_scenes(pipe, batch)
    folded = fold_map(batch.edges)
    unet = widen_unet(pipe.unet, folded.shape[1])
    gen = torch.Generator().manual_seed(seed)

    def loss_fn(model, step):
        idx = torch.randint(0, n_train, (BATCH_SIZE,), generator=gen)
        context, cond = data["states"][data["rows"][idx]], folded[idx]

        def f(z_t, t):
            return model(torch.cat([z_t, cond], dim=1), t, context)

        return diffusion_loss(f, pipe.schedule, data["latents"][idx], pipe.prediction_type,
                              generator=gen)

    start = time.perf_counter()
    result = fit(unet, loss_fn, steps, lr=LR, warmup=WARMUP, ema_decay=EMA_DECAY,
                 desc="control_finetune")
    save_checkpoint(result.ema.model, out)
    pipe.scheduler_config.save(out)
    return {"trainable_parameters": sum(p.numel() for p in unet.parameters()),
            "train_seconds": round(time.perf_counter() - start, 1),
            "batch_size": BATCH_SIZE, "lr": LR, "n_train_scenes": n_train,
            "scores": score(out)}
