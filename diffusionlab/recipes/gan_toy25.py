"""GAN against diffusion on the 25-mode grid (lesson 07): same size, same training time,
several seeds.

The 25-Gaussian grid (``data.toy2d``, std 0.05, centres 0.7 apart) is the classic trap for
GANs: a generator that finds a few modes and hops between them (mode collapse) scores well
against its discriminator for a while. Both models here have about the same number of
parameters (the network run at sampling time: G against the denoiser):

    diffusion   ``nn.mlp.ToyDenoiser`` (hidden 128, 3 blocks), DDPM's simple loss, AdamW with an
                EMA, exactly the recipe of the shipped toy denoisers (``recipes._toy``)
    GAN         ``nn.gan.ToyGenerator`` (latent 8, hidden ``G_HIDDEN``) against
                ``nn.gan.ToyDiscriminator`` (hidden 128), the non-saturating loss, Adam with
                betas (0.5, 0.999), and the R1 penalty on D (Mescheder et al. 2018) as the
                stabilizer; an EMA of G is what is sampled

Step counts are set so that both take about the same wall time on 2 CPU cores (the measured
times are in the manifest). ``train`` runs ``NUM_SEEDS`` seeds of each (seeds ``seed`` ..
``seed + NUM_SEEDS - 1``), scores every run, records loss curves, and ships seed ``seed`` of
both (the generator in ``gan_toy25/``, the denoiser in ``gan_toy25/denoiser/``): no
cherry-picking.

Scores (``toy_scores``) on 2000 samples: modes covered (of 25, >= 1% of the samples within
0.3 of the centre), the share of samples within 0.15 (3 std) of a centre (quality: points
between modes are what a blurry or collapsing model draws), and the sliced Wasserstein
distance to fresh data over its floor (``metrics.toy2d.toy_quality``).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoints import load_checkpoint, save_checkpoint
from ..data.toy2d import sample_toy
from ..gan_training import fit_gan, generate
from ..losses import diffusion_loss
from ..metrics.toy2d import near_mode_share, toy_quality
from ..nn.gan import ToyDiscriminator, ToyGenerator, num_parameters
from ..nn.mlp import ToyDenoiser
from ..samplers import sample
from ..schedules import make_schedule
from ..training import fit

DATASET = "25gaussians"
DEFAULT_STEPS = 6000                 # diffusion steps; the GAN gets GAN_STEPS_PER_STEP x this
GAN_STEPS_PER_STEP = 0.6           # a GAN step costs ~1.6 diffusion steps: equal wall time
NUM_SEEDS = 3
SCHEDULE = "linear"
DIFFUSION = dict(hidden=128, layers=3, batch_size=512, lr=2e-3, ema_decay=0.995, warmup=100)
G_HIDDEN = 151                       # 70,9xx parameters, like ToyDenoiser(hidden=128)
GAN = dict(latent_dim=8, d_hidden=128, batch_size=256, lr=1e-3, betas=(0.5, 0.999),
           r1_gamma=0.1, ema_decay=0.995)
SAMPLE_STEPS = 50                    # DDIM steps for the diffusion model's samples
N_SAMPLES = 2000
CURVE_EVERY = 50
TRAIN_SEED_BASE = 30_000_000


def _curve(values: list[float]) -> list[float]:
    return [round(sum(values[i:i + CURVE_EVERY]) / len(values[i:i + CURVE_EVERY]), 4)
            for i in range(0, len(values), CURVE_EVERY)]


def make_generator() -> ToyGenerator:
    return ToyGenerator(latent_dim=GAN["latent_dim"], hidden=G_HIDDEN)


def train_gan(steps: int, seed: int, r1_gamma: float | None = None, saturating: bool = False,
              progress: bool = True, callback=None):
    """One toy GAN run on DATASET; returns (EMA generator, GanFitResult)."""
    torch.manual_seed(seed)
    G = make_generator()
    D = ToyDiscriminator(hidden=GAN["d_hidden"])
    batch = GAN["batch_size"]

    def real(step):
        return sample_toy(DATASET, batch, seed=TRAIN_SEED_BASE + 1_000_000 * seed + step)

    result = fit_gan(G, D, real, steps, batch_size=batch, lr_g=GAN["lr"], lr_d=GAN["lr"],
                     betas=GAN["betas"], ema_decay=GAN["ema_decay"], seed=seed,
                     r1_gamma=GAN["r1_gamma"] if r1_gamma is None else r1_gamma,
                     saturating=saturating, progress=progress, desc=f"toy GAN seed {seed}",
                     callback=callback)
    return result.ema.model, result


def train_diffusion(steps: int, seed: int, progress: bool = True):
    """One toy denoiser run on DATASET (the shipped toy recipe's settings); returns
    (EMA denoiser, FitResult)."""
    torch.manual_seed(seed)
    cfg = DIFFUSION
    model = ToyDenoiser(hidden=cfg["hidden"], layers=cfg["layers"])
    schedule = make_schedule(SCHEDULE)
    gen = torch.Generator().manual_seed(seed)

    def loss_fn(m, step):
        x0 = sample_toy(DATASET, cfg["batch_size"], seed=TRAIN_SEED_BASE + 1_000_000 * seed + step)
        return diffusion_loss(m, schedule, x0, "epsilon", generator=gen)

    result = fit(model, loss_fn, steps, lr=cfg["lr"], ema_decay=cfg["ema_decay"],
                 warmup=cfg["warmup"], progress=progress, desc=f"toy diffusion seed {seed}")
    return result.ema.model, result


@torch.no_grad()
def diffusion_sample(model, n: int = N_SAMPLES, seed: int = 1, steps: int | None = None,
                     sampler: str = "ddim") -> torch.Tensor:
    return sample(model, make_schedule(SCHEDULE), (n, 2), num_inference_steps=steps or SAMPLE_STEPS,
                  sampler=sampler, seed=seed, progress=False)


def toy_scores(samples: torch.Tensor) -> dict:
    q = toy_quality(samples, DATASET, seed=1, repeats=5)
    return {"modes_covered": q.modes_covered, "num_modes": q.num_modes,
            "near_mode_share": round(near_mode_share(samples, DATASET), 3),
            "sw_ratio": round(q.ratio, 2)}


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0) -> dict:
    out = Path(out)
    gan_steps = int(round(GAN_STEPS_PER_STEP * steps))
    runs = {"gan": [], "diffusion": []}
    for k in range(NUM_SEEDS):
        s = seed + k
        G, g_res = train_gan(gan_steps, s)
        D_model, d_res = train_diffusion(steps, s)
        if k == 0:
            save_checkpoint(G, out)                       # the GAN's generator at the top
            save_checkpoint(D_model, out / "denoiser")
        runs["gan"].append({"seed": s, "wall_time_s": round(g_res.seconds, 1),
                            **toy_scores(generate(G, N_SAMPLES, seed=1)),
                            "d_loss_curve": _curve(g_res.d_losses),
                            "g_loss_curve": _curve(g_res.g_losses)})
        runs["diffusion"].append({"seed": s, "wall_time_s": round(d_res.seconds, 1),
                                  **toy_scores(diffusion_sample(D_model)),
                                  "loss_curve": _curve(d_res.losses)})
    return {"dataset": DATASET, "num_seeds": NUM_SEEDS, "shipped_seed": seed,
            "gan_steps": gan_steps, "diffusion_steps": steps, "curve_every": CURVE_EVERY,
            "gan": {**{k: list(v) if isinstance(v, tuple) else v for k, v in GAN.items()},
                    "g_hidden": G_HIDDEN, "loss": "non-saturating",
                    "stabilizers": ["R1 penalty on D", "EMA of G"],
                    "generator_parameters": num_parameters(make_generator()),
                    "discriminator_parameters": num_parameters(ToyDiscriminator(
                        hidden=GAN["d_hidden"]))},
            "diffusion": {**DIFFUSION, "schedule": SCHEDULE, "sampler": f"ddim {SAMPLE_STEPS}",
                          "parameters": num_parameters(ToyDenoiser(hidden=DIFFUSION["hidden"],
                                                                   layers=DIFFUSION["layers"]))},
            "per_seed": runs, "scores": score(out)}


def score(directory: Path) -> dict:
    directory = Path(directory)
    G = load_checkpoint(ToyGenerator, directory)
    model = load_checkpoint(ToyDenoiser, directory / "denoiser")
    return {"gan": {**toy_scores(generate(G, N_SAMPLES, seed=1)), "network_evaluations": 1},
            "diffusion": {**toy_scores(diffusion_sample(model)),
                          "network_evaluations": SAMPLE_STEPS}}
