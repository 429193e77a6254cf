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

Scores, on 256 fresh images with fixed noise (``reconstruction_errors``): the
one-step x_0 prediction, clipped to [-1, 1]; for an epsilon model (DDPM eq. 15)

    x0_hat = (x_t - sqrt(1 - abar_t) eps_theta(x_t, t)) / sqrt(abar_t)

and its mean squared error against the true x_0 at t = 50, 200, 500; the error
of its high-frequency content (``high_pass``: the image minus its 3x3 box blur)
and the error on the shape's outline pixels (the edge map), both at low noise.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..checkpoints import load_checkpoint, save_checkpoint
from ..data.shapes import make_shapes
from ..forward import q_sample
from ..losses import diffusion_loss
from ..nn.unet import UNet
from ..parameterization import split_prediction
from ..schedules import make_schedule

DEFAULT_STEPS = 1000
SCHEDULE = "linear"
PREDICTION_TYPE = "epsilon"
BATCH_SIZE = 32
CONFIG = dict(in_channels=3, base_channels=16, channel_mults=(1, 2, 2), layers_per_block=1,
              attention_levels=(False, False, False), num_heads=4)   # attention: middle only
EVAL_TIMESTEPS = (50, 200, 500)
EVAL_IMAGES = 256
EVAL_SEED = 123_456


def high_pass(x: torch.Tensor) -> torch.Tensor:
    """The detail of an image: x minus its 3x3 box blur, per channel (edges light up)."""
    C = x.shape[1]
    kernel = torch.full((C, 1, 3, 3), 1.0 / 9.0, dtype=x.dtype, device=x.device)
    return x - F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=C)


@torch.no_grad()
def predict_x0(model: UNet, schedule, x_t: torch.Tensor, t: int,
               prediction_type: str = PREDICTION_TYPE) -> torch.Tensor:
    """One-step x_0 estimate, clipped to [-1, 1]: DDPM eq. 15 for an epsilon model,
    the output itself for a "sample" (x_0) model."""
    tt = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
    x0, _ = split_prediction(schedule, model(x_t, tt), x_t, tt, prediction_type)
    return x0.clamp(-1.0, 1.0)


@torch.no_grad()
def reconstruction_errors(model: UNet, timesteps=EVAL_TIMESTEPS, n: int = EVAL_IMAGES,
                          seed: int = EVAL_SEED, batch_size: int = 128,
                          prediction_type: str = PREDICTION_TYPE) -> dict:
    """Per timestep: x0 MSE, high-pass MSE, MSE on the outline pixels and the MSE of the
    implied noise prediction (fresh images, the same images and noise for every model, so
    two models compare pairwise)."""
    schedule = make_schedule(SCHEDULE)
    data = make_shapes(n, seed=seed)
    x0, edges = data.images, data.edges.expand(-1, 3, -1, -1)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(x0.shape, generator=gen)
    was_training = model.training
    model.eval()
    out = {}
    for t in timesteps:
        tt = torch.full((n,), t)
        x_t = q_sample(schedule, x0, tt, noise)
        output = torch.cat([model(x_t[i:i + batch_size], tt[i:i + batch_size])
                            for i in range(0, n, batch_size)])
        pred, eps = split_prediction(schedule, output, x_t, tt, prediction_type)
        pred = pred.clamp(-1.0, 1.0)
        err = (pred - x0) ** 2
        out[int(t)] = {"x0_mse": err.mean().item(),
                       "highpass_mse": ((high_pass(pred) - high_pass(x0)) ** 2).mean().item(),
                       "edge_mse": (err * edges).sum().item() / edges.sum().item(),
                       "eps_mse": ((eps - noise) ** 2).mean().item()}
    model.train(was_training)
    return out


def train_pixel_unet(out: Path, steps: int, seed: int, use_skips: bool,
                     prediction_type: str = PREDICTION_TYPE) -> dict:
    torch.manual_seed(seed)
    from ..training import fit

    schedule = make_schedule(SCHEDULE)
    model = UNet(**CONFIG, use_skips=use_skips)
    gen = torch.Generator().manual_seed(seed)

    def loss_fn(m, step):
        x0 = make_shapes(BATCH_SIZE, seed=seed * 1_000_000 + step).images
        return diffusion_loss(m, schedule, x0, prediction_type, generator=gen)

    result = fit(model, loss_fn, steps, lr=1.5e-3, ema_decay=0.995, warmup=100,
                 desc=f"unet_pixel {prediction_type}" + ("" if use_skips else " no skips"))
    save_checkpoint(result.ema.model, out)
    tail = result.losses[-100:]
    return {"schedule": SCHEDULE, "prediction_type": prediction_type, "batch_size": BATCH_SIZE,
            "parameters": sum(p.numel() for p in model.parameters()),
            "final_loss_mean_last_100": round(sum(tail) / len(tail), 4),
            "scores": score_pixel_unet(out, prediction_type)}


def score_pixel_unet(directory: Path, prediction_type: str = PREDICTION_TYPE) -> dict:
    model = load_checkpoint(UNet, directory)
    errs = reconstruction_errors(model, prediction_type=prediction_type)
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
