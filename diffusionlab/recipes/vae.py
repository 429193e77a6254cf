"""Recipe: the KL autoencoder (``diffusionlab.nn.vae.VAE``) of the tiny Stable Diffusion,
32x32x3 <-> 8x8x4, trained on fresh shapes scenes every step.

Loss (per batch): L1 reconstruction (mean over pixels, SD's pixel loss) plus
KL_WEIGHT * KL(q(z|x) || N(0, I)) / 3072 (the KL summed over the latent per image and
divided by the number of pixel values, so KL_WEIGHT is relative to a per-pixel sum as in
SD's config, where ``kl_weight`` is 1e-6). The decoder sees posterior samples
z = mean + std * eps. No LPIPS, no discriminator (see ``diffusionlab.nn.vae``).

Two choices for a short CPU run: the logvar half of the encoder's output bias starts at
LOGVAR_INIT = -6 (posterior std 0.05), because with the default init (std 1) the decoder
sees mostly noise and the first ~500 steps are spent shrinking it; and at the end the raw
and the EMA weights are compared on validation scenes (VAL_SEED) and the better is saved
(with a constant learning rate a slow EMA lags behind a model that is still improving).

After training, the scaling factor is computed as Stable Diffusion's was: 1 / std of the
latents (posterior means) of SCALE_IMAGES training images, and stored in the config.

Scores, on EVAL_IMAGES fresh scenes (seed EVAL_SEED), reconstructing from the posterior mean:
    psnr                  PSNR over all pixels (10 log10(2^2 / MSE), images in [-1, 1])
    psnr_edges            over the 2-pixel band across the shape's outline (dilated mask
                          minus eroded mask): where the fine detail is
    psnr_interior         over the shape's eroded mask (flat colour)
    psnr_background       over the pixels outside the dilated mask
    prompt_accuracy_*     the shipped evaluator's prompt accuracy (full captions) on the
                          originals and on the reconstructions
    latent_std_scaled     std of the scaled latents of the fresh images (~1)
    compression           3*32*32 / (4*8*8) = 12
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoints import load_checkpoint, save_checkpoint
from ..data.shapes import make_shapes
from ..metrics.images import psnr, region_masks
from ..nn.vae import VAE
from ..distributed import is_main_process
from ..training import ShardedLoss, fit, model_device, shard_seed

DEFAULT_STEPS = 1500
BATCH_SIZE = 32
LR = 2e-3
KL_WEIGHT = 1e-5
EMA_DECAY = 0.995
LOGVAR_INIT = -6.0             # initial log sigma^2 of the posterior (bias of the encoder's output)
VAL_IMAGES = 256
VAL_SEED = 555_555             # validation scenes: pick the raw or the EMA weights
CONFIG = dict(in_channels=3, latent_channels=4, base_channels=16, channel_mults=(1, 2, 2),
              downsample_padding=0)
IMAGE_SIZE = 32
# command-line knobs (``train vae --width W --batch-size B --resolution R --structure S``);
# the encoder's downsamplers pad right and bottom (downsample_padding=0), as diffusers'
# AutoencoderKL does, so the shipped VAE exports as the stock class; --structure course
# pads every side, the structure the course first shipped (``export.compat``)
KNOBS = {"width": f"{__name__}:CONFIG.base_channels", "batch_size": f"{__name__}:BATCH_SIZE",
         "resolution": f"{__name__}:IMAGE_SIZE",
         "structure": (f"{__name__}:CONFIG.downsample_padding", {"course": 1, "diffusers": 0})}
SCALE_IMAGES = 1024
SCALE_SEED = 4242              # training-distribution images used for the scaling factor
EVAL_IMAGES = 512
EVAL_SEED = 777_777            # evaluation scenes, never seen in training
_TRAIN_SEED_STRIDE = 1_000_003


def vae_loss(model: VAE, images: torch.Tensor, kl_weight: float = KL_WEIGHT,
             generator: torch.Generator | None = None,
             weight: torch.Tensor | None = None) -> torch.Tensor:
    """L1 reconstruction from a posterior sample + kl_weight * KL per pixel value.
    ``weight`` (broadcastable to the images): a per-pixel weight of the L1 term."""
    recon, posterior = model(images, sample_posterior=True, generator=generator)
    err = (recon - images).abs()
    rec = (err if weight is None else err * weight).mean()          # |x - D(z)|_1, per value
    kl = posterior.kl().mean() / images[0].numel()                   # KL per image / 3072
    return rec + kl_weight * kl


@torch.no_grad()
def compute_scaling_factor(model: VAE, n: int = SCALE_IMAGES, seed: int = SCALE_SEED,
                           batch_size: int = 256, images: torch.Tensor | None = None) -> float:
    """1 / std of the unscaled latents (posterior means) of ``n`` training images
    (Rombach et al. 2022, appendix G: SD's 0.18215 is this number for its VAE), or of
    ``images`` if given."""
    images = make_shapes(n, seed=seed).images if images is None else images
    n = images.shape[0]
    z = torch.cat([model.encode(images[i:i + batch_size]).mode()
                   for i in range(0, n, batch_size)])
    return float(1.0 / z.std())


@torch.no_grad()
def reconstruct(model: VAE, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Encode to the posterior mean and decode, clamped to [-1, 1]."""
    return torch.cat([model.decode(model.encode(images[i:i + batch_size]).mode()).clamp(-1, 1)
                      for i in range(0, images.shape[0], batch_size)])


@torch.no_grad()
def evaluate(model: VAE, n: int = EVAL_IMAGES, seed: int = EVAL_SEED,
             evaluator: bool = True) -> dict:
    model.eval()
    data = make_shapes(n, seed=seed)
    z = torch.cat([model.encode(data.images[i:i + 256]).mode() for i in range(0, n, 256)])
    recon = torch.cat([model.decode(z[i:i + 256]).clamp(-1, 1) for i in range(0, n, 256)])
    scores = {"psnr": psnr(recon, data.images)}
    for name, m in region_masks(data.masks).items():
        scores[f"psnr_{name}"] = psnr(recon, data.images, mask=m)
    latents = z * model.scaling_factor                               # what diffusion sees
    scores["latent_std_scaled"] = float(latents.std())
    scores["latent_mean_scaled"] = float(latents.mean())
    if evaluator:
        from ..metrics.evaluator import ShapesEvaluator

        ev = ShapesEvaluator.pretrained()
        scores["prompt_accuracy_originals"] = ev.prompt_accuracy(data.images, data.captions)
        scores["prompt_accuracy_reconstructions"] = ev.prompt_accuracy(recon, data.captions)
    c, h, w = model.latent_shape(32, 32)
    scores["compression"] = (3 * 32 * 32) / (c * h * w)
    return {k: round(v, 3) for k, v in scores.items()}


def init_vae(config: dict) -> VAE:
    """A fresh VAE whose posterior starts nearly noise-free (logvar bias LOGVAR_INIT)."""
    model = VAE(**config)
    with torch.no_grad():
        model.encoder.conv_out.bias[model.latent_channels:].fill_(LOGVAR_INIT)
    return model


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0, log_every: int = 250) -> dict:
    out = Path(out)
    torch.manual_seed(seed)
    model = init_vae(CONFIG)
    batch_size, image_size = BATCH_SIZE, IMAGE_SIZE

    def make_loss_fn(gen, shard):            # shard 0: the single-process stream
        data_seed = shard_seed(seed, shard)

        def loss_fn(m: VAE, step: int) -> torch.Tensor:
            images = make_shapes(batch_size, seed=data_seed * _TRAIN_SEED_STRIDE + step + 1,
                                 image_size=image_size).images
            return vae_loss(m, images.to(model_device(m)), generator=gen)

        return loss_fn

    def callback(step: int, loss: float) -> None:
        if log_every and (step + 1) % log_every == 0 and is_main_process():
            q = evaluate(model, n=128, evaluator=False)      # the raw (non-EMA) weights
            print(f"step {step + 1}: loss {loss:.4f}  psnr {q['psnr']:.1f} dB", flush=True)
            model.train()

    result = fit(model, ShardedLoss(make_loss_fn, seed), steps, lr=LR, warmup=100,
                 ema_decay=EMA_DECAY, desc="VAE", callback=callback)
    candidates = {"raw": model.eval(), "ema": result.ema.model}
    val = {k: evaluate(m, n=VAL_IMAGES, seed=VAL_SEED, evaluator=False)["psnr"]
           for k, m in candidates.items()}
    chosen = max(val, key=val.get)
    print(f"validation PSNR: {val} -> saving the {chosen} weights", flush=True)
    final = candidates[chosen]
    final.scaling_factor = compute_scaling_factor(final)
    save_checkpoint(final, out)
    n_params = sum(p.numel() for p in final.parameters())
    return {"config": final.config, "batch_size": batch_size, "image_size": image_size, "lr": LR,
            "kl_weight": KL_WEIGHT, "loss": "L1 + kl_weight * KL / 3072",
            "logvar_init": LOGVAR_INIT, "ema_decay": EMA_DECAY,
            "validation_psnr": val, "saved_weights": chosen,
            "parameters": n_params, "train_seconds": round(result.seconds, 1),
            "final_loss": round(sum(result.losses[-50:]) / len(result.losses[-50:]), 4),
            "scores": score(out)}


def score(directory) -> dict:
    return evaluate(load_checkpoint(VAE, Path(directory)))
