"""Recipe: the tiny SDXL's refiner (``weights/text2img_xl_refiner``,
``pipelines.TextToImageXLRefiner``): SDXL's second stage (Podell et al. 2023, section 2.5).

A second latent U-Net in the same latent space (``weights/vae_scenes``), trained only on
the low-noise timesteps t < ``T_MAX`` (SDXL: the first 200 of 1000 discrete steps): an
expert for the last part of denoising, where the layout is settled and only detail is
left. It cross-attends to the character-aware encoder's states only (SDXL's refiner uses
only OpenCLIP bigG) and gets the same added conditioning (pooled + six numbers; SDXL's
refiner swaps the target size for an aesthetic score, which this world has no use for).
The text encoders are the base's (``weights/text2img_xl``), frozen: the refiner reuses
what the base learned about the prompts and trains only its U-Net.

Use: the base runs ``denoising_end=0.8`` and returns its latents, the refiner continues
with ``denoising_start=0.8`` (the "ensemble of experts" of eDiff-I, Balaji et al. 2022, as
SDXL uses it), or it refines any image SDEdit-style.

Scores (``score``; the base's evaluation prompts, 20 DDIM steps in all, guidance
``DEFAULT_GUIDANCE_SCALE``, same noise): base alone vs base (80%) + refiner (20%) on the
32x32 and 24x40 buckets: the scene reader's object, letter and word accuracy, and the
high-frequency energy of the images (``metrics.sharpness.high_frequency_energy``, batch
mean) against that of real scenes.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..checkpoints import load_checkpoint, weights_path
from ..data.glyphs import TRAIN_WORDS
from ..data.scenes import make_scenes
from ..losses import diffusion_loss
from ..metrics.sharpness import high_frequency_energy
from ..nn.sdxl import TinySDXL
from ..pipelines import DEFAULT_GUIDANCE_SCALE
from ..training import ShardedLoss, fit, model_device
from . import text2img_xl as base

DEFAULT_STEPS = 1000
T_MAX = 200                    # trained on t in {0, ..., T_MAX - 1} (SDXL: 200 of 1000)
N_PER_BUCKET = 2000
BATCH_SIZE = 32
LR = 1e-3
WARMUP = 100
EMA_DECAY = 0.995
CAPTION_DROPOUT = 0.1
DENOISING_SPLIT = 0.8          # base: the first 80% of the schedule, refiner: the last 20%
UNET_CONFIG = dict(base_channels=32, channel_mults=(1, 2), layers_per_block=1,
                   attention_levels=(True, True), num_heads=4)
BASE_DIR = None                # None: the shipped weights/text2img_xl
SCORE_BUCKETS = ((32, 32), (24, 40))
KNOBS = {"width": f"{__name__}:UNET_CONFIG.base_channels", "batch_size": f"{__name__}:BATCH_SIZE"}


def base_dir() -> Path:
    return Path(BASE_DIR) if BASE_DIR else weights_path("text2img_xl")


def make_loss_fn(schedule, data: list, empty: dict, batch_size: int, generator: torch.Generator):
    """``loss_fn(model, step)``: bucket ``step % len(data)``, t < T_MAX, caption dropout."""
    gen = generator

    def loss_fn(model, step):
        d = data[step % len(data)]
        idx = torch.randint(0, d["latents"].shape[0], (batch_size,), generator=gen)
        ids, chars = d["input_ids"][idx].clone(), d["char_ids"][idx].clone()
        cfg = torch.rand(batch_size, generator=gen) < CAPTION_DROPOUT
        ids[cfg], chars[cfg] = empty["input_ids"][0], empty["char_ids"][0]
        dev = model_device(model)
        return diffusion_loss(model, schedule, d["latents"][idx].to(dev),
                              base.SCHEDULER.prediction_type, generator=gen, t_max=T_MAX,
                              input_ids=ids.to(dev), char_ids=chars.to(dev),
                              time_ids=d["time_ids"][idx].to(dev), mode="char")

    return loss_fn


class _RefinerFromNoise:
    """Builds a refiner pipeline called like the base (``prompts`` only) for the float16
    check: it refines fixed latents (seeded noise at the refiner's start) of 32x32 images."""

    def __init__(self, cls):
        self.cls = cls

    def __call__(self, *args):
        pipe = self.cls(*args)

        def call(prompts, progress=False):
            z = torch.randn((len(prompts), pipe.vae.latent_channels, 8, 8),
                            generator=torch.Generator().manual_seed(0))
            return pipe(prompts, latents=z, progress=progress)

        return call


def hf_energy(images: torch.Tensor) -> float:
    """Mean over a batch of ``metrics.sharpness.high_frequency_energy`` (the share of spectral
    energy above a quarter of the sampling rate), the measure lesson 17 uses."""
    return float(high_frequency_energy(images).mean())


@torch.no_grad()
def compare(base_pipe, refiner, n: int = base.EVAL_PROMPTS, seed: int = base.EVAL_SEED,
            steps: int = base.SCORE_STEPS, split: float = DENOISING_SPLIT) -> dict:
    """Base alone vs base + refiner, same prompts, noise and total steps, per bucket."""
    from ..metrics.scenes import SceneReader

    reader = SceneReader.pretrained()
    out = {}
    for i, (h, w) in enumerate(SCORE_BUCKETS):
        prompts = make_scenes(n, seed=seed + i, height=h, width=w, words=TRAIN_WORDS,
                              **dict(base.SCENE_MIX, caption_style="full")).captions
        real = make_scenes(n, seed=seed + 50 + i, height=h, width=w, words=TRAIN_WORDS,
                           **dict(base.SCENE_MIX, caption_style="full")).images
        kw = dict(height=h, width=w, seed=seed, num_inference_steps=steps, progress=False,
                  guidance_scale=DEFAULT_GUIDANCE_SCALE)
        alone = base_pipe(prompts, **kw).images
        lat = base_pipe(prompts, denoising_end=split, return_latents=True, **kw).latents
        refined = refiner(prompts, latents=lat, denoising_start=split, seed=seed,
                          num_inference_steps=steps, progress=False,
                          guidance_scale=DEFAULT_GUIDANCE_SCALE).images
        row = {"hf_energy_real": round(hf_energy(real), 4)}
        for name, imgs in (("base", alone), ("base_refiner", refined)):
            s = reader.score(imgs, prompts)
            row.update({f"{k}_{name}": None if v is None else round(v, 3) for k, v in
                        (("object_accuracy", s.object_accuracy), ("scene_accuracy", s.scene_accuracy),
                         ("letter_accuracy", s.letter_accuracy), ("word_accuracy", s.word_accuracy))})
            row[f"hf_energy_{name}"] = round(hf_energy(imgs), 4)
        out[f"{h}x{w}"] = row
    out["denoising_split"] = split
    out["total_steps"] = steps
    return out


def score(directory: Path) -> dict:
    from ..pipelines import TextToImageXL, TextToImageXLRefiner

    vae = base.load_vae()
    base_pipe = TextToImageXL.from_directory(base_dir(), vae=vae)
    refiner = TextToImageXLRefiner.from_directory(directory, vae=vae)
    return compare(base_pipe, refiner)


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0, do_score: bool = True) -> dict:
    out = Path(out)
    torch.manual_seed(seed)
    vae = base.load_vae()
    frozen = load_checkpoint(TinySDXL, base_dir())
    model = TinySDXL(dict(UNET_CONFIG, in_channels=vae.latent_channels), frozen.config["text"],
                     frozen.config["addition_time_embed_dim"], text_encoders="char")
    model.text_encoder.load_state_dict(frozen.text_encoder.state_dict())
    model.text_encoder.requires_grad_(False)                         # the base's, frozen
    start = time.perf_counter()
    data = [base.encode_bucket(vae, model.text_encoder, N_PER_BUCKET, 5_000 + 10 * seed + i, b,
                               small_rate=0.0, crop_rate=0.0)         # native scenes only
            for i, b in enumerate(base.BUCKETS)]
    empty = model.text_encoder.tokenize([""])
    encode_seconds = time.perf_counter() - start
    schedule = base.SCHEDULER.make_schedule()
    batch_size = BATCH_SIZE
    loss = ShardedLoss(lambda gen, shard: make_loss_fn(schedule, data, empty, batch_size, gen), seed)
    result = fit(model, loss, steps, lr=LR, warmup=WARMUP, ema_decay=EMA_DECAY,
                 params=[p for p in model.unet.parameters()], desc="text2img_xl_refiner")
    from ..pipelines import TextToImageXLRefiner

    fp16 = base.save_half_checked(result.ema.model, out, _RefinerFromNoise(TextToImageXLRefiner), vae)
    tail = result.losses[-200:]
    info = {"t_max": T_MAX, "batch_size": batch_size, "lr": LR, "ema_decay": EMA_DECAY,
            "n_per_bucket": N_PER_BUCKET, "caption_dropout": CAPTION_DROPOUT,
            "text_encoders": "char (the base's, frozen)", "base": str(BASE_DIR or "weights/text2img_xl"),
            "parameters_unet": sum(p.numel() for p in model.unet.parameters()),
            "encode_seconds": round(encode_seconds, 1), "train_seconds": round(result.seconds, 1),
            "final_loss_mean_last_200": round(sum(tail) / len(tail), 4), "fp16_round_trip": fp16}
    return base.add_scores(info, score, out) if do_score else info
