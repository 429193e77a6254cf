"""Recipe for the shapes evaluator (``diffusionlab/weights/evaluator``).

Training data are rendered on the fly, a fresh batch every step, from seeds
``TRAIN_SEED_BASE + 1_000_000 * seed + step`` (>= 10,000,000). Every
evaluation in the course uses seeds below that, so the evaluator is always
scored on scenes it never saw.

After training, ``ShapesEvaluator.calibrate`` stores the mean and standard
deviation of the FID features over 2000 real scenes (seed ``CALIBRATION_SEED``).

Each training image is degraded the way a generated sample might be (additive
Gaussian noise, a partial blur, a contrast / brightness / colour shift), so the
evaluator judges imperfect samples sensibly instead of only perfect renders.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..checkpoints import load_checkpoint, save_checkpoint
from ..data.shapes import ATTRIBUTES, make_shapes, render
from ..metrics.evaluator import ShapesEvaluator
from ..metrics.fid import fid_floor
from ..training import ShardedLoss, fit, model_device, shard_seed

DEFAULT_STEPS = 2500
BATCH = 64
TRAIN_SEED_BASE = 10_000_000
# command-line knobs (``train evaluator --batch-size B``)
KNOBS = {"batch_size": f"{__name__}:BATCH"}
EVAL_SEED = 1                      # fresh scenes for scoring (never a training seed)
CALIBRATION_SEED = 3               # real scenes whose feature statistics standardize the FID


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Noise, blur and contrast changes, drawn per image from ``generator``."""
    n = images.shape[0]

    def u(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(n, *shape, 1, 1, generator=generator)

    k = torch.tensor([0.25, 0.5, 0.25])
    kernel = (k[:, None] * k[None, :]).expand(3, 1, 3, 3)             # 3x3 binomial blur
    blurred = F.conv2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), kernel, groups=3)
    a = u(0.0, 1.0, 1) * (torch.rand(n, 1, 1, 1, generator=generator) < 0.5)
    x = (1 - a) * images + a * blurred                                 # blur half the batch, partly
    x = x * u(0.75, 1.15, 1) + u(-0.15, 0.15, 1) + u(-0.08, 0.08, 3)  # contrast, brightness, tint
    x = x + u(0.0, 0.15, 1) * torch.randn(x.shape, generator=generator)  # Gaussian noise
    return x


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    model = ShapesEvaluator()
    batch_size = BATCH

    def make_loss_fn(gen, shard):            # shard 0: the single-process stream
        data_seed = shard_seed(seed, shard)

        def loss_fn(m, step):
            batch = make_shapes(batch_size, seed=TRAIN_SEED_BASE + 1_000_000 * data_seed + step)
            device = model_device(m)
            logits = m(augment(batch.images, gen).to(device))
            return sum(F.cross_entropy(logits[k], batch.labels[k].to(device))
                       for k in ATTRIBUTES)

        return loss_fn

    result = fit(model, ShardedLoss(make_loss_fn, seed), steps, lr=2e-3, ema_decay=0.998,
                 warmup=100, desc="evaluator")
    model = result.ema.model.calibrate(make_shapes(2000, seed=CALIBRATION_SEED).images)
    save_checkpoint(model, out)
    return {"scores": score(out), "train_seconds": round(result.seconds, 1),
            "final_loss": round(sum(result.losses[-50:]) / 50, 4),
            "batch_size": batch_size, "train_seeds": f">= {TRAIN_SEED_BASE}"}


def score(directory) -> dict:
    """Prompt accuracy on 1000 fresh scenes (full, shuffled, partial captions and
    augmented images), per-attribute accuracy, the FID floor (500 real vs 500
    fresh real) and, for scale, the FID of 500 real scenes against 500 scenes
    where every shape became a circle (a dropped mode)."""
    ev = load_checkpoint(ShapesEvaluator, Path(directory))
    real = make_shapes(1000, seed=EVAL_SEED)
    partial = make_shapes(1000, seed=EVAL_SEED + 1, caption_style="partial")
    perm = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))
    shuffled = [real.captions[i] for i in perm.tolist()]
    noisy = augment(real.images, torch.Generator().manual_seed(1))
    r = lambda v: round(v, 4)  # noqa: E731
    return {
        "prompt_accuracy_full": r(ev.prompt_accuracy(real.images, real.captions)),
        "prompt_accuracy_shuffled": r(ev.prompt_accuracy(real.images, shuffled)),
        "prompt_accuracy_partial": r(ev.prompt_accuracy(partial.images, partial.captions)),
        "prompt_accuracy_augmented": r(ev.prompt_accuracy(noisy, real.captions)),
        "attribute_accuracy": {k: r(v) for k, v in
                               ev.attribute_accuracy(real.images, real.captions).items()},
        "fid_floor_500": round(fid_floor(ev, n=500), 3),
        "fid_real_vs_circles_only_500": round(ev.fid(
            real.images[:500], render([dict(a, shape="circle") for a in real.attributes[500:]],
                                      seed=EVAL_SEED).images), 3),
    }
