"""Shared recipe for the 2-D toy denoisers used by lessons 04-05 (and 07)."""
from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoints import load_checkpoint, save_checkpoint
from ..data.toy2d import sample_toy
from ..losses import diffusion_loss
from ..metrics.toy2d import toy_quality
from ..nn.mlp import ToyDenoiser
from ..samplers import sample
from ..schedules import make_schedule
from ..training import ShardedLoss, fit, model_device, shard_seed

SCHEDULE = "linear"
PREDICTION_TYPE = "epsilon"
BATCH_SIZE = 512
HIDDEN = 128
# command-line knobs (``train NAME --width W --batch-size B``): knob -> "module:CONSTANT"
KNOBS = {"width": f"{__name__}:HIDDEN", "batch_size": f"{__name__}:BATCH_SIZE"}


def train_toy(dataset: str, out: Path, steps: int, seed: int) -> dict:
    torch.manual_seed(seed)
    schedule = make_schedule(SCHEDULE)
    model = ToyDenoiser(hidden=HIDDEN, layers=3)
    batch_size = BATCH_SIZE

    def make_loss_fn(gen, shard):            # shard 0: the single-process stream
        data_seed = shard_seed(seed, shard)

        def loss_fn(m, step):
            x0 = sample_toy(dataset, batch_size, seed=data_seed * 1_000_000 + step)
            return diffusion_loss(m, schedule, x0.to(model_device(m)), PREDICTION_TYPE,
                                  generator=gen)

        return loss_fn

    result = fit(model, ShardedLoss(make_loss_fn, seed), steps, lr=2e-3, ema_decay=0.995,
                 warmup=100, desc=f"toy {dataset}")
    save_checkpoint(result.ema.model, out)
    return {"dataset": dataset, "schedule": SCHEDULE, "prediction_type": PREDICTION_TYPE,
            "batch_size": batch_size, "scores": score_toy(dataset, out)}


def score_toy(dataset: str, directory: Path) -> dict:
    model = load_checkpoint(ToyDenoiser, directory)
    schedule = make_schedule(SCHEDULE)
    scores = {}
    for name, kw in {"ddpm_1000": dict(sampler="ddpm", num_inference_steps=1000),
                     "ddim_50": dict(sampler="ddim", num_inference_steps=50)}.items():
        x = sample(model, schedule, (2000, 2), seed=1, progress=False, **kw)
        q = toy_quality(x, dataset, seed=1, repeats=10)
        scores[name] = {"sliced_w1": round(q.distance, 4), "floor": round(q.floor, 4),
                        "ratio": round(q.ratio, 2)}
    return scores
