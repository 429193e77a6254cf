"""A pixel-space U-Net denoiser on the shapes (lesson 06), with skip connections.

This module holds the code its three twins share (the configuration, the training
loop and the measures of lesson 06):

    unet_pixel              epsilon prediction, skips         (this recipe)
    unet_pixel_noskip       epsilon prediction, use_skips=False
    unet_pixel_x0           x_0 ("sample") prediction, skips
    unet_pixel_x0_noskip    x_0 ("sample") prediction, use_skips=False

Training: linear schedule, DDPM's simple loss (``diffusion_loss``) on fresh shapes
images every step (batch 32), AdamW with an EMA of the weights (the EMA is what is
saved). Everything but ``use_skips`` and the target is identical across the twins.

Scores, on 256 fresh images with fixed noise (``metrics.denoising.reconstruction_errors``): the
one-step x_0 prediction, clipped to [-1, 1]; for an epsilon model (DDPM eq. 15)

    x0_hat = (x_t - sqrt(1 - abar_t) eps_theta(x_t, t)) / sqrt(abar_t)

and its mean squared error against the true x_0 at t = 50, 200, 500; the error
of its high-frequency content (``high_pass``: the image minus its 3x3 box blur)
and the error on the shape's outline pixels (the edge map), both at low noise.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoints import load_checkpoint, save_checkpoint
from ..data.shapes import make_shapes
from ..losses import diffusion_loss
from ..metrics.denoising import predict_x0, reconstruction_errors  # noqa: F401 (lesson 06)
from ..nn.unet import UNet
from ..schedules import make_schedule

DEFAULT_STEPS = 1000
SCHEDULE = "linear"
PREDICTION_TYPE = "epsilon"
BATCH_SIZE = 32
IMAGE_SIZE = 32
CONFIG = dict(in_channels=3, base_channels=16, channel_mults=(1, 2, 2), layers_per_block=1,
              attention_levels=(False, False, False), num_heads=4)   # attention: middle only
# command-line knobs (``train NAME --width W --batch-size B --resolution R``)
KNOBS = {"width": f"{__name__}:CONFIG.base_channels", "batch_size": f"{__name__}:BATCH_SIZE",
         "resolution": f"{__name__}:IMAGE_SIZE"}


def train_pixel_unet(out: Path, steps: int, seed: int, use_skips: bool,
                     prediction_type: str = PREDICTION_TYPE) -> dict:
    torch.manual_seed(seed)
    from ..training import ShardedLoss, fit, model_device, shard_seed

    schedule = make_schedule(SCHEDULE)
    model = UNet(**CONFIG, use_skips=use_skips)
    batch_size, image_size = BATCH_SIZE, IMAGE_SIZE

    def make_loss_fn(gen, shard):            # shard 0: the single-process stream
        data_seed = shard_seed(seed, shard)

        def loss_fn(m, step):
            x0 = make_shapes(batch_size, seed=data_seed * 1_000_000 + step,
                             image_size=image_size).images
            return diffusion_loss(m, schedule, x0.to(model_device(m)), prediction_type,
                                  generator=gen)

        return loss_fn

    result = fit(model, ShardedLoss(make_loss_fn, seed), steps, lr=1.5e-3, ema_decay=0.995,
                 warmup=100,
                 desc=f"unet_pixel {prediction_type}" + ("" if use_skips else " no skips"))
    save_checkpoint(result.ema.model, out)
    tail = result.losses[-100:]
    return {"schedule": SCHEDULE, "prediction_type": prediction_type, "batch_size": batch_size,
            "image_size": image_size,
            "parameters": sum(p.numel() for p in model.parameters()),
            "final_loss_mean_last_100": round(sum(tail) / len(tail), 4),
            "scores": score_pixel_unet(out, prediction_type)}


def score_pixel_unet(directory: Path, prediction_type: str = PREDICTION_TYPE) -> dict:
    model = load_checkpoint(UNet, directory)
    errs = reconstruction_errors(model, make_schedule(SCHEDULE), prediction_type=prediction_type)
    scores = {f"x0_mse_t{t}": round(e["x0_mse"], 5) for t, e in errs.items()}
    low = min(errs)
    scores[f"highpass_mse_t{low}"] = round(errs[low]["highpass_mse"], 5)
    scores[f"edge_mse_t{low}"] = round(errs[low]["edge_mse"], 5)
    return scores


def make_recipe(use_skips: bool, prediction_type: str = PREDICTION_TYPE):
    """The recipe's ``(train, score)`` pair for one of the four twins (module docstring)."""

    def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0) -> dict:
        return train_pixel_unet(out, steps, seed, use_skips, prediction_type)

    def score(directory: Path) -> dict:
        return score_pixel_unet(directory, prediction_type)

    return train, score


train, score = make_recipe(use_skips=True)
