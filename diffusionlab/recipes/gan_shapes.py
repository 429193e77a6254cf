"""A DCGAN-style GAN on the 32x32 shapes (lesson 07), against the course's pixel diffusion
model at the same parameter count.

Generator: ``nn.gan.ConvGenerator`` with its width chosen so that it has about as many
parameters as the shipped pixel U-Net ``unet_pixel`` (282,611): the network that is run
at sampling time is the same size in both. The discriminator is only needed for training.

Training (``gan_training.fit_gan``): the non-saturating loss (Goodfellow et al. 2014),
Adam lr 2e-4 with betas (0.5, 0.999) (DCGAN), batch 32 of fresh shapes every step, and two
stabilizers: spectral normalization on every discriminator layer (Miyato et al. 2018) and
an EMA of the generator's weights (what is sampled and saved). No R1 (it doubles the cost
of a discriminator step on 2 cores).

Stability across seeds: ``train`` trains ``NUM_SEEDS`` GANs (seeds ``seed``, ``seed + 1``,
...) with everything else equal, scores each, records their loss curves (means over windows
of ``CURVE_EVERY`` steps) and ships the first seed's generator (no cherry-picking).

Scores (``score``), on ``FID_IMAGES`` samples against fresh real scenes:
    fid, fid_floor      the course's FID (``metrics.fid``) and real-against-real at equal n
    classes_covered     (shape, colour) classes with >= 1% of the samples (of 15)
    class_imbalance     total variation distance of the class histogram to uniform
and the same for ``unet_pixel`` sampled with DDIM (``DIFFUSION_STEPS`` steps), once, into
``diffusion_reference`` (the comparison the lesson re-measures).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..checkpoints import load_checkpoint, read_manifest, save_checkpoint, weights_path
from ..data.shapes import make_shapes
from ..gan_training import fit_gan, generate
from ..metrics.coverage import class_coverage
from ..nn.gan import ConvDiscriminator, ConvGenerator, num_parameters

DEFAULT_STEPS = 2000             # about unet_pixel's 1000 steps in wall time (a GAN step is ~2x cheaper)
NUM_SEEDS = 2
BATCH_SIZE = 32
LR = 2e-4
BETAS = (0.5, 0.999)
EMA_DECAY = 0.995
G_CONFIG = dict(latent_dim=128, channels=26)
D_CONFIG = dict(channels=32, spectral_norm=True)
CURVE_EVERY = 25
FID_IMAGES = 500
REAL_SEED = 123_456            # real scenes A (and A + 1 for the floor), as metrics.fid.fid_floor
SAMPLE_SEED = 7                # the latent codes of the scored samples
DIFFUSION_STEPS = 20
TRAIN_SEED_BASE = 20_000_000   # training scenes: far from every evaluation seed
KNOBS = {"width": f"{__name__}:G_CONFIG.channels", "batch_size": f"{__name__}:BATCH_SIZE"}


def _curve(values: list[float]) -> list[float]:
    return [round(sum(values[i:i + CURVE_EVERY]) / len(values[i:i + CURVE_EVERY]), 4)
            for i in range(0, len(values), CURVE_EVERY)]


def train_one(steps: int, seed: int):
    """One GAN run; returns (EMA generator, fit result)."""
    torch.manual_seed(seed)
    G, D = ConvGenerator(**G_CONFIG), ConvDiscriminator(**D_CONFIG)
    batch_size = BATCH_SIZE

    def real(step):
        return make_shapes(batch_size, seed=TRAIN_SEED_BASE + 1_000_000 * seed + step).images

    result = fit_gan(G, D, real, steps, batch_size=batch_size, lr_g=LR, lr_d=LR, betas=BETAS,
                     ema_decay=EMA_DECAY, seed=seed, desc=f"gan_shapes seed {seed}")
    return result.ema.model, result


@torch.no_grad()
def image_scores(images: torch.Tensor, evaluator=None) -> dict:
    """FID against real scenes (and its floor), class coverage, for ``FID_IMAGES`` images."""
    from ..metrics.evaluator import ShapesEvaluator

    evaluator = evaluator or ShapesEvaluator.pretrained()
    n = images.shape[0]
    real_a = make_shapes(n, seed=REAL_SEED).images
    real_b = make_shapes(n, seed=REAL_SEED + 1).images
    cov = class_coverage(evaluator, images)
    return {"fid": round(evaluator.fid(images, real_a), 3),
            "fid_floor": round(evaluator.fid(real_b, real_a), 3),
            "classes_covered": cov.covered, "num_classes": cov.num_classes,
            "class_imbalance": round(cov.imbalance, 3)}


def score_generator(G, evaluator=None) -> dict:
    return image_scores(generate(G, FID_IMAGES, seed=SAMPLE_SEED), evaluator)


@torch.no_grad()
def diffusion_samples(n: int | None = None, steps: int | None = None, seed: int = SAMPLE_SEED,
                      directory=None) -> torch.Tensor:
    """``n`` (default ``FID_IMAGES``) unconditional samples of the shipped pixel U-Net
    (DDIM, eta 0, ``steps`` steps, default ``DIFFUSION_STEPS``)."""
    from ..nn.unet import UNet
    from ..samplers import sample
    from ..schedules import make_schedule
    from .unet_pixel import SCHEDULE

    n, steps = n or FID_IMAGES, steps or DIFFUSION_STEPS
    unet = load_checkpoint(UNet, directory or weights_path("unet_pixel")).eval()
    return sample(unet, make_schedule(SCHEDULE), (n, 3, 32, 32), num_inference_steps=steps,
                  sampler="ddim", seed=seed, clip_sample=1.0, progress=False).clamp(-1, 1)


def diffusion_reference(evaluator=None) -> dict:
    """The same scores for ``unet_pixel`` (DDIM, ``DIFFUSION_STEPS`` steps), with its size,
    its training wall time (from its manifest) and this sampling's wall time."""
    from ..nn.unet import UNet

    start = time.perf_counter()
    images = diffusion_samples()
    seconds = time.perf_counter() - start
    manifest = read_manifest(weights_path("unet_pixel"))
    unet = load_checkpoint(UNet, weights_path("unet_pixel"))
    return {"model": "unet_pixel", "sampler": f"ddim {DIFFUSION_STEPS} steps",
            "parameters": num_parameters(unet), "train_steps": manifest["steps"],
            "train_batch_size": manifest["batch_size"],
            "train_wall_time_s": manifest["wall_time_s"], "train_threads": manifest["threads"],
            "sample_wall_time_s": round(seconds, 1), "threads": torch.get_num_threads(),
            **image_scores(images, evaluator)}


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0) -> dict:
    from ..metrics.evaluator import ShapesEvaluator

    evaluator = ShapesEvaluator.pretrained()
    runs = []
    for k in range(NUM_SEEDS):
        s = seed + k
        G, result = train_one(steps, s)
        if k == 0:
            save_checkpoint(G, out)
        runs.append({"seed": s, "wall_time_s": round(result.seconds, 1),
                     **score_generator(G, evaluator),
                     "d_loss_curve": _curve(result.d_losses),
                     "g_loss_curve": _curve(result.g_losses)})
    fids = [r["fid"] for r in runs]
    return {"batch_size": BATCH_SIZE, "lr": LR, "betas": list(BETAS), "ema_decay": EMA_DECAY,
            "loss": "non-saturating", "stabilizers": ["spectral norm on D", "EMA of G"],
            "generator_parameters": num_parameters(ConvGenerator(**G_CONFIG)),
            "discriminator_parameters": num_parameters(ConvDiscriminator(**D_CONFIG)),
            "curve_every": CURVE_EVERY, "shipped_seed": seed,
            "per_seed": runs, "fid_mean": round(sum(fids) / len(fids), 3),
            "fid_spread": round(max(fids) - min(fids), 3),
            "diffusion_reference": diffusion_reference(evaluator),
            "scores": score(out)}


def score(directory: Path) -> dict:
    return score_generator(load_checkpoint(ConvGenerator, directory))
