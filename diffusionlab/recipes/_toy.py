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
from ..training import fit

SCHEDULE = "linear"
PREDICTION_TYPE = "epsilon"


def train_toy(dataset: str, out: Path, steps: int, seed: int) -> dict:
    torch.manual_seed(seed)
    schedule = make_schedule(SCHEDULE)
    model = ToyDenoiser(hidden=128, layers=3)
    gen = torch.Generator().manual_seed(seed)

    def loss_fn(m, step):
        x0 = sample_toy(dataset, 512, seed=seed * 1_000_000 + step)
        return diffusion_loss(m, schedule, x0, PREDICTION_TYPE, generator=gen)

    result = fit(model, loss_fn, steps, lr=2e-3, ema_decay=0.995, warmup=100,
                 desc=f"toy {dataset}")
    save_checkpoint(result.ema.model, out)
    return {"dataset": dataset, "schedule": SCHEDULE, "prediction_type": PREDICTION_TYPE,
            "batch_size": 512, "scores": score_toy(dataset, out)}


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
