"""Recipe: the tiny Stable Diffusion's latent U-Net (``weights/text2img``), the model
behind ``pipelines.TextToImage.pretrained()``.

What is trained: a ``UNet`` on the shipped VAE's 4 x 8 x 8 latents, cross-attending (at
both resolutions and in the middle) to the shipped TinyCLIP's last hidden states of all
12 padded prompt tokens, as SD's U-Net attends to all 77 CLIP token states. The VAE and
the text encoder stay frozen, as in Stable Diffusion (Rombach et al. 2022, section 3.3).

Data, computed once before training:
    * ``N_TRAIN`` seeded shapes scenes with "mixed" captions (half name all four
      attributes, half a random one to three: "a circle", "a red shape at the top"), so
      that short prompts work too;
    * their VAE latents (the posterior mean, times the VAE's scaling factor: unit variance);
    * the text encoder's token states of every *distinct* caption (cached by caption: a
      few thousand distinct captions for tens of thousands of scenes).

Training step (DDPM's simple loss, Ho et al. 2020 eq. 14, via ``losses.diffusion_loss``):
    z_0 = a batch of latents, c = their captions' token states, where a fraction
    ``CAPTION_DROPOUT`` of c is replaced by the empty prompt's states. That dropout is what
    makes classifier-free guidance possible (Ho & Salimans 2022, Algorithm 1): the same
    network learns eps(z_t, c) and eps(z_t, empty), and at sampling time
    eps_uncond + s (eps_cond - eps_uncond) extrapolates between them (lesson 09).

Choices (see the manifest for what was measured):
    * schedule ``scaled_linear`` (Stable Diffusion's betas), T = 1000;
    * prediction type ``PREDICTION_TYPE``: SD 1.x predicts epsilon; SD 2.x's 768 models
      predict v = sqrt(abar) eps - sqrt(1 - abar) x_0 (Salimans & Ho 2022), which keeps
      the target's scale the same at every noise level, and Lin et al. 2023 pair v with a
      zero-terminal-SNR schedule and "trailing" timesteps. The module constant records
      the choice made here and the manifest the probe that chose it;
    * AdamW, warm-up, gradient clipping and an EMA of the weights (``training.fit``); the
      EMA is what is saved.

Scores (``score``; fresh prompts from scenes never used in training, 20 DDIM steps):
    prompt_accuracy_s{scale}   evaluator prompt accuracy of full-caption prompts at
                               guidance scales 1, 2, 3, 5, 7.5 (``SCALES``)
    prompt_accuracy_mixed      the same with mixed (full and partial) prompts, default scale
    fid / fid_floor            the course's FID (evaluator features) of images generated
                               for the full captions of real scenes against other real
                               scenes, and the same FID of real against real (the floor)
    negative_red_without / _with   fraction of "a circle" images judged red without and
                               with the negative prompt "red"
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ..checkpoints import save_checkpoint
from ..data.shapes import make_shapes
from ..losses import diffusion_loss
from ..nn.unet import UNet
from ..pipelines import DEFAULT_GUIDANCE_SCALE, TextToImage
from ..samplers import SchedulerConfig
from ..training import ShardedLoss, fit, model_device

DEFAULT_STEPS = 4500
N_TRAIN = 30_000
BATCH_SIZE = 64
LR = 1e-3
WARMUP = 200
EMA_DECAY = 0.998
CAPTION_DROPOUT = 0.15
# How the U-Net is trained and sampled, written beside its weights (scheduler_config.json)
SCHEDULER = SchedulerConfig(schedule="scaled_linear", prediction_type="epsilon",
                            timestep_spacing="leading", steps_offset=1)
PREDICTION_TYPE = SCHEDULER.prediction_type
UNET_CONFIG = dict(in_channels=4, base_channels=32, channel_mults=(1, 2), layers_per_block=1,
                   attention_levels=(True, True), num_heads=4,
                   attention_norm="resnet")
IMAGE_SIZE = 32                # training images (latents: IMAGE_SIZE / 4)
# command-line knobs (``train text2img --width W --batch-size B --resolution R --structure S``);
# the attention blocks normalise in the ResBlocks' groups (attention_norm="resnet"), as
# diffusers' UNet2DConditionModel does, so the shipped U-Net exports as the stock class;
# --structure course gives them up to 32 groups (SD's Transformer2DModel setting), the
# structure the course first shipped (``export.compat``)
KNOBS = {"width": f"{__name__}:UNET_CONFIG.base_channels", "batch_size": f"{__name__}:BATCH_SIZE",
         "resolution": f"{__name__}:IMAGE_SIZE",
         "structure": (f"{__name__}:UNET_CONFIG.attention_norm", {"course": "sd",
                                                                 "diffusers": "resnet"})}

SCALES = (1.0, 2.0, 3.0, 5.0, 7.5)
EVAL_SEED = 424_242            # evaluation prompts: far from the training seeds
EVAL_PROMPTS = 256
FID_IMAGES = 500
NEGATIVE_IMAGES = 200


# ----------------------------------------------------------------------------- data
@torch.no_grad()
def encode_dataset(vae, clip, n: int, seed: int, caption_style: str = "mixed",
                   batch_size: int = 500, image_size: int = 32) -> dict:
    """Latents, distinct captions' token states and the caption index of ``n`` scenes.

    Returns {"latents": (n, 4, 8, 8), "states": (U, L, D) for the U distinct captions
    (row 0 is the empty prompt ""), "caption_index": (n,) long into ``states``}.
    """
    data = make_shapes(n, seed=seed, caption_style=caption_style, image_size=image_size)
    latents = torch.cat([vae.encode_latents(data.images[i:i + batch_size])
                         for i in range(0, n, batch_size)])
    distinct = [""] + sorted(set(data.captions) - {""})
    index = {c: i for i, c in enumerate(distinct)}
    states = torch.cat([clip.token_states(distinct[i:i + batch_size])
                        for i in range(0, len(distinct), batch_size)])
    caption_index = torch.tensor([index[c] for c in data.captions], dtype=torch.long)
    return {"latents": latents, "states": states, "caption_index": caption_index}


def make_loss_fn(schedule, data: dict, batch_size: int = BATCH_SIZE,
                 caption_dropout: float = CAPTION_DROPOUT, prediction_type: str = PREDICTION_TYPE,
                 seed: int = 0, generator: torch.Generator | None = None):
    """``loss_fn(model, step)`` for ``fit``: a random batch, caption dropout to the empty
    prompt (row 0 of ``states``), the simple loss on the chosen target. Its random numbers
    come from ``generator`` (default: a new one seeded ``seed``)."""
    gen = torch.Generator().manual_seed(seed) if generator is None else generator
    latents, states, cap = data["latents"], data["states"], data["caption_index"]

    def loss_fn(model, step):
        idx = torch.randint(0, latents.shape[0], (batch_size,), generator=gen)
        rows = cap[idx]
        drop = torch.rand(batch_size, generator=gen) < caption_dropout    # Ho & Salimans, Alg. 1
        rows = torch.where(drop, torch.zeros_like(rows), rows)
        device = model_device(model)
        return diffusion_loss(model, schedule, latents[idx].to(device), prediction_type,
                              generator=gen, context=states[rows].to(device))

    return loss_fn


# ----------------------------------------------------------------------------- measures
@torch.no_grad()
def generate(pipe: TextToImage, prompts, guidance_scale: float, seed: int = 0,
             batch_size: int = 256, **kwargs) -> torch.Tensor:
    """Images for a long list of prompts, ``batch_size`` prompts per pipeline call
    (call k uses seed ``seed + k``)."""
    prompts = list(prompts)
    return torch.cat([pipe(prompts[i:i + batch_size], guidance_scale=guidance_scale,
                           seed=seed + k, progress=False, **kwargs).images
                      for k, i in enumerate(range(0, len(prompts), batch_size))])


def eval_prompts(n: int = EVAL_PROMPTS, caption_style: str = "full", seed: int = EVAL_SEED):
    """Fresh prompts: the captions of scenes never used in training."""
    return make_shapes(n, seed=seed, caption_style=caption_style).captions


@torch.no_grad()
def prompt_accuracy_by_scale(pipe, evaluator, scales=SCALES, n: int = EVAL_PROMPTS,
                             caption_style: str = "full", seed: int = EVAL_SEED,
                             **kwargs) -> dict:
    """{scale: prompt accuracy} on the same ``n`` fresh prompts and the same noise."""
    prompts = eval_prompts(n, caption_style, seed)
    return {float(s): evaluator.prompt_accuracy(generate(pipe, prompts, s, **kwargs), prompts)
            for s in scales}


@torch.no_grad()
def fid_against_real(pipe, evaluator, guidance_scale: float, n: int = FID_IMAGES,
                     seed: int = 123_456, **kwargs) -> tuple[float, float]:
    """(FID, floor): images generated for the full captions of real scenes B against
    real scenes A, and real B against real A (``metrics.fid.fid_floor``'s seeds)."""
    real_a = make_shapes(n, seed=seed).images
    real_b = make_shapes(n, seed=seed + 1)
    fake = generate(pipe, real_b.captions, guidance_scale, **kwargs)
    return evaluator.fid(fake, real_a), evaluator.fid(real_b.images, real_a)


@torch.no_grad()
def negative_prompt_effect(pipe, evaluator, prompt: str = "a circle", negative: str = "red",
                           attribute: str = "color", n: int = NEGATIVE_IMAGES,
                           guidance_scale: float = DEFAULT_GUIDANCE_SCALE, seed: int = 0) -> dict:
    """How often the evaluator sees ``negative`` (a value of ``attribute``) in images of
    ``prompt``, without and with it as the negative prompt (same noise)."""
    out = {}
    for key, neg in (("without", None), ("with", negative)):
        images = pipe([prompt] * n, negative_prompt=neg, guidance_scale=guidance_scale,
                      seed=seed, progress=False).images
        preds = evaluator.predict(images)
        out[key] = sum(p[attribute] == negative for p in preds) / n
    return out


def _round(d: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}


def score(directory: Path) -> dict:
    from ..metrics.evaluator import ShapesEvaluator

    pipe = TextToImage.from_directory(directory)
    evaluator = ShapesEvaluator.pretrained()
    scores = {}
    for s, acc in prompt_accuracy_by_scale(pipe, evaluator).items():
        scores[f"prompt_accuracy_s{s:g}"] = acc
    scores["prompt_accuracy_mixed"] = prompt_accuracy_by_scale(
        pipe, evaluator, (DEFAULT_GUIDANCE_SCALE,), caption_style="mixed")[DEFAULT_GUIDANCE_SCALE]
    fid, floor = fid_against_real(pipe, evaluator, DEFAULT_GUIDANCE_SCALE)
    scores.update(default_guidance_scale=DEFAULT_GUIDANCE_SCALE, fid=fid, fid_floor=floor,
                  fid_ratio=fid / floor)
    neg = negative_prompt_effect(pipe, evaluator)
    scores.update(negative_red_without=neg["without"], negative_red_with=neg["with"])
    return _round(scores)


# ----------------------------------------------------------------------------- training
def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0,
          prediction_type: str = PREDICTION_TYPE, n_train: int = N_TRAIN,
          do_score: bool = True) -> dict:
    import time

    from ..nn.text import TinyCLIP
    from ..nn.vae import VAE

    out = Path(out)
    torch.manual_seed(seed)
    vae, clip = VAE.pretrained(), TinyCLIP.pretrained()
    start = time.perf_counter()
    data = encode_dataset(vae, clip, n_train, seed=1_000 + seed, image_size=IMAGE_SIZE)
    encode_seconds = time.perf_counter() - start
    scheduler = dataclasses.replace(SCHEDULER, prediction_type=prediction_type)
    schedule = scheduler.make_schedule()
    model = UNet(**UNET_CONFIG, context_dim=clip.context_dim)
    batch_size = BATCH_SIZE
    loss = ShardedLoss(lambda gen, shard: make_loss_fn(
        schedule, data, batch_size, prediction_type=prediction_type, generator=gen), seed)
    result = fit(model, loss, steps, lr=LR, warmup=WARMUP, ema_decay=EMA_DECAY,
                 desc="text2img")
    save_checkpoint(result.ema.model, out)
    scheduler.save(out)
    tail = result.losses[-200:]
    info = {"schedule": scheduler.schedule, "prediction_type": prediction_type,
            "timestep_spacing": scheduler.timestep_spacing,
            "steps_offset": scheduler.steps_offset, "batch_size": batch_size, "lr": LR,
            "ema_decay": EMA_DECAY, "image_size": IMAGE_SIZE,
            "caption_dropout": CAPTION_DROPOUT, "n_train_scenes": n_train,
            "distinct_captions": int(data["states"].shape[0]),
            "parameters": sum(p.numel() for p in model.parameters()),
            "encode_seconds": round(encode_seconds, 1),
            "train_seconds": round(result.seconds, 1),
            "final_loss_mean_last_200": round(sum(tail) / len(tail), 4)}
    if do_score:
        info["scores"] = score(out)
    return info
