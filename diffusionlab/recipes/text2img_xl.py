"""Recipe: the tiny SDXL (``weights/text2img_xl``, ``pipelines.TextToImageXL``), a
second-generation text-to-image model on the wider world with SDXL's ideas (Podell et al.
2023): two text encoders (``nn.text_xl``: word-level + character-aware, states concatenated,
the char encoder's pooled embedding in the added conditioning), size and crop conditioning
and multi-aspect buckets (``data.buckets``), on the wider world's VAE (``weights/vae_scenes``).

What is trained, jointly from scratch: the two text encoders and the U-Net (``nn.sdxl.
TinySDXL``). SDXL freezes two pre-trained CLIP encoders; there is none for this world and
no CPU budget to pre-train one contrastively, so the encoders learn from the denoising loss
only (what SD's encoders would know about spelling from pre-training, ours must pick up
from 3-letter words in captions).

Data, computed once before training: ``N_PER_BUCKET`` scenes per bucket (``BUCKETS``),
each native, small-and-upscaled or cropped (``SMALL_RATE``, ``CROP_RATE``) with its six
micro-conditioning numbers; 1-3 objects, letters, counted groups and words from
``TRAIN_WORDS`` only (the held-out words are never seen), "full" captions; their VAE
latents (posterior mean times the scaling factor) and tokenized captions. Full, not
"mixed" as the SD-1 recipe: mixed captions leave position out of about half the scenes,
and encoders that learn from the denoising loss alone then barely learn it (measured by
``python -m diffusionlab.failure_modes --captions``, lesson 16).

Training step (the simple loss, ``losses.diffusion_loss``): a batch from one bucket (the
buckets in turn, as SDXL batches by aspect ratio), and independent condition dropouts per
sample, so that one network learns every conditioning mode (an ablation by dropout, not
separately trained models):

    CAPTION_DROPOUT   caption -> ""  (classifier-free guidance, Ho & Salimans 2022)
    WORD_DROPOUT      word encoder's states -> 0                      (mode "char")
    CHAR_DROPOUT      char encoder's states and pooled -> 0           (mode "word")
    TOKENS_DROPOUT    both per-token states -> 0, pooled kept          (mode "pooled")

Scores (``score``; prompts from scenes with ``EVAL_SEED``, never trained on, 20 DDIM steps,
guidance ``DEFAULT_GUIDANCE_SCALE``; read by ``metrics.scenes.SceneReader``): per bucket,
object / scene / count accuracy, binding error rate, letter and word accuracy of the wider
world's mix; spelling prompts ("the word X ...") from TRAIN_WORDS and HELD_OUT_WORDS per
conditioning mode on the 24x40 bucket (where a large word fits); and ``conditioning_gain``,
the share of the denoising error each conditioning mode explains (right vs shuffled
captions), which still separates the modes where the images are too weak to read.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..checkpoints import (load_checkpoint, max_weight_change, save_checkpoint_half,
                           weights_path)
from ..data.buckets import BUCKETS, make_bucket_scenes
from ..data.glyphs import HELD_OUT_WORDS, TRAIN_WORDS
from ..data.scenes import make_scenes
from ..losses import diffusion_loss
from ..nn.embeddings import micro_conditioning_ids
from ..nn.sdxl import TinySDXL
from ..nn.text_xl import MODES
from ..nn.vae import VAE
from ..pipelines import DEFAULT_GUIDANCE_SCALE
from ..samplers import SchedulerConfig
from ..training import ShardedLoss, fit, model_device

DEFAULT_STEPS = 8000
N_PER_BUCKET = 4000
BATCH_SIZE = 32
LR = 1e-3
WARMUP = 200
EMA_DECAY = 0.998
CAPTION_DROPOUT = 0.1
WORD_DROPOUT = 0.1
CHAR_DROPOUT = 0.1
TOKENS_DROPOUT = 0.1
SMALL_RATE = 0.2
CROP_RATE = 0.15
SCENE_MIX = dict(letter_rate=0.4, group_rate=0.25, word_rate=0.2, caption_style="full")
SCHEDULER = SchedulerConfig(schedule="scaled_linear", prediction_type="epsilon",
                            timestep_spacing="leading", steps_offset=1)
UNET_CONFIG = dict(base_channels=48, channel_mults=(1, 2), layers_per_block=1,
                   attention_levels=(False, True), num_heads=4)
TEXT_CONFIG = dict(word_width=64, char_width=64, layers=2, heads=4, pooled_dim=64)
ADDITION_TIME_EMBED_DIM = 16
VAE_DIR = None                 # None: the shipped weights/vae_scenes
KNOBS = {"width": f"{__name__}:UNET_CONFIG.base_channels", "batch_size": f"{__name__}:BATCH_SIZE"}
EVAL_SEED = 424_242
EVAL_PROMPTS = 128             # per bucket and per spelling score
SCORE_STEPS = 20


def load_vae() -> VAE:
    return load_checkpoint(VAE, VAE_DIR or weights_path("vae_scenes"))


# ----------------------------------------------------------------------------- data
@torch.no_grad()
def encode_bucket(vae: VAE, text_encoder, n: int, seed: int, bucket, chunk: int = 500,
                  scene_mix=None, small_rate=None, crop_rate=None) -> dict:
    """One bucket's training set: latents (n, C, h, w), input_ids (n, L), char_ids (n, L, C),
    time_ids (n, 6). ``scene_mix``, ``small_rate``, ``crop_rate``: the recipe's constants
    unless given (for ablations)."""
    lat, ids, chars, tids = [], [], [], []
    mix = SCENE_MIX if scene_mix is None else scene_mix
    small = SMALL_RATE if small_rate is None else small_rate
    crop = CROP_RATE if crop_rate is None else crop_rate
    for k, i in enumerate(range(0, n, chunk)):
        b = make_bucket_scenes(min(chunk, n - i), seed=seed * 1000 + k, bucket=bucket,
                               small_rate=small, crop_rate=crop, words=TRAIN_WORDS, **mix)
        lat.append(vae.encode_latents(b.images))
        tok = text_encoder.tokenize(b.captions)
        ids.append(tok["input_ids"])
        chars.append(tok["char_ids"])
        tids.append(b.time_ids)
    return {"latents": torch.cat(lat), "input_ids": torch.cat(ids), "char_ids": torch.cat(chars),
            "time_ids": torch.cat(tids)}


def make_loss_fn(schedule, data: list, empty: dict, batch_size: int, generator: torch.Generator):
    """``loss_fn(model, step)``: a batch of bucket ``step % len(data)`` with the dropouts of
    the module docstring."""
    gen = generator

    def loss_fn(model, step):
        d = data[step % len(data)]
        idx = torch.randint(0, d["latents"].shape[0], (batch_size,), generator=gen)
        ids, chars = d["input_ids"][idx].clone(), d["char_ids"][idx].clone()
        u = torch.rand(4, batch_size, generator=gen)
        cfg = u[0] < CAPTION_DROPOUT                                      # caption -> ""
        ids[cfg], chars[cfg] = empty["input_ids"][0], empty["char_ids"][0]
        tokens = u[3] < TOKENS_DROPOUT
        keep_word = (~((u[1] < WORD_DROPOUT) | tokens)).float()
        keep_char = (~((u[2] < CHAR_DROPOUT) | tokens)).float()
        keep_pooled = (u[2] >= CHAR_DROPOUT).float()
        dev = model_device(model)
        return diffusion_loss(model, schedule, d["latents"][idx].to(dev), SCHEDULER.prediction_type,
                              generator=gen, input_ids=ids.to(dev), char_ids=chars.to(dev),
                              time_ids=d["time_ids"][idx].to(dev), keep_word=keep_word,
                              keep_char=keep_char, keep_pooled=keep_pooled)

    return loss_fn


# ----------------------------------------------------------------------------- measures
@torch.no_grad()
def generate(pipe, prompts, height: int, width: int, seed: int = 0, batch_size: int = 128,
             num_inference_steps: int = SCORE_STEPS, **kwargs) -> torch.Tensor:
    return torch.cat([pipe(prompts[i:i + batch_size], height=height, width=width, seed=seed + k,
                           progress=False, num_inference_steps=num_inference_steps, **kwargs).images
                      for k, i in enumerate(range(0, len(prompts), batch_size))])


def spelling_prompts(words, n: int = EVAL_PROMPTS, seed: int = EVAL_SEED, bucket=(24, 40)) -> list:
    """Full captions of one-word scenes ("the large word CAT in blue at the top")."""
    return make_scenes(n, seed=seed, height=bucket[0], width=bucket[1], words=words,
                       word_rate=1.0).captions


@torch.no_grad()
def score_pipeline(pipe, n: int = EVAL_PROMPTS, seed: int = EVAL_SEED) -> dict:
    from ..metrics.scenes import SceneReader

    reader = SceneReader.pretrained()
    out = {}
    for i, (h, w) in enumerate(BUCKETS):
        prompts = make_scenes(n, seed=seed + i, height=h, width=w, words=TRAIN_WORDS,
                              **dict(SCENE_MIX, caption_style="full")).captions
        s = reader.score(generate(pipe, prompts, h, w), prompts).as_dict()
        s.pop("attribute_accuracy")
        out[f"{h}x{w}"] = s
    for name, words in (("train_words", TRAIN_WORDS), ("held_out_words", HELD_OUT_WORDS)):
        prompts = spelling_prompts(words, n, seed + 10)
        for mode in MODES:
            s = reader.score(generate(pipe, prompts, 24, 40, text_encoders=mode), prompts)
            out[f"spelling_{name}_{mode}"] = {"word_accuracy": round(s.word_accuracy, 3),
                                              "letter_accuracy": round(s.letter_accuracy, 3),
                                              "object_accuracy": round(s.object_accuracy, 3)}
    out["guidance_scale"] = DEFAULT_GUIDANCE_SCALE
    out["sampler_steps"] = SCORE_STEPS
    return out


@torch.no_grad()
def caption_gain(pipe, images: torch.Tensor, right: list, wrong: list, seed: int = EVAL_SEED,
                 timesteps=(100, 300, 600)) -> dict:
    """{mode: gain} for each conditioning mode (``nn.text_xl.MODES``): ``images``' latents
    noised to each of ``timesteps`` (the same noise for both caption sets), the U-Net's mean
    squared noise error with the ``right`` captions and with the ``wrong`` ones, and

        gain = 1 - error(right) / error(wrong)       averaged over the timesteps.

    0: the U-Net does not tell the two caption sets apart (in a mode whose inputs are the
    same for both, exactly 0)."""
    from ..forward import q_sample

    if len(right) != images.shape[0] or len(wrong) != images.shape[0]:
        raise ValueError(f"right and wrong need one caption per image ({images.shape[0]}), got "
                         f"{len(right)} and {len(wrong)}")
    model, n = pipe.model, images.shape[0]
    z0 = pipe.encode_images(images)
    H, W = images.shape[-2:]
    ids = micro_conditioning_ids((H, W), (0, 0), (H, W), batch_size=n)
    tok = {"right": model.text_encoder.tokenize(right), "wrong": model.text_encoder.tokenize(wrong)}
    gen = torch.Generator().manual_seed(seed)
    err = {}
    for t in timesteps:
        noise = torch.randn(z0.shape, generator=gen)
        tt = torch.full((n,), t)
        x = q_sample(pipe.schedule, z0, tt, noise)
        for key, tk in tok.items():
            for mode in MODES:
                eps = model(x, tt, tk["input_ids"], tk["char_ids"], ids, mode=mode)
                err.setdefault((key, mode), []).append(float((eps - noise).pow(2).mean()))
    return {mode: round(sum(1 - r / w for r, w in zip(err[("right", mode)], err[("wrong", mode)]))
                        / len(timesteps), 4) for mode in MODES}


def conditioning_gain(pipe, n: int = 256, seed: int = EVAL_SEED, timesteps=(100, 300, 600)) -> dict:
    """How much of the denoising error each conditioning mode explains (``caption_gain``
    with the captions shuffled among the scenes as the wrong ones). Measured where
    generation is too weak for the scene reader to tell modes apart. Three sets: the wider
    world's mix (32x32), one-word scenes with TRAIN_WORDS and with HELD_OUT_WORDS (24x40)."""
    sets = {"scenes": make_scenes(n, seed=seed, words=TRAIN_WORDS,
                                  **dict(SCENE_MIX, caption_style="full")),
            "train_words": make_scenes(n, seed=seed + 1, height=24, width=40, words=TRAIN_WORDS,
                                       word_rate=1.0),
            "held_out_words": make_scenes(n, seed=seed + 2, height=24, width=40,
                                          words=HELD_OUT_WORDS, word_rate=1.0)}
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return {name: caption_gain(pipe, data.images, data.captions,
                               [data.captions[i] for i in perm], seed, timesteps)
            for name, data in sets.items()}


def spelling_gain(pipe, n: int = 128, seed: int = EVAL_SEED, timesteps=(100, 300, 600)) -> dict:
    """What each conditioning mode tells the U-Net about *spelling*: ``caption_gain`` on
    one-word scenes (24x40) between the right caption and the same caption with its word
    replaced by another word of the same list (colour, size and position kept). For
    HELD_OUT_WORDS the word-level tokenizer maps both words to ``<unk>``, so its gain is 0
    by construction; a character-aware encoder still sees the letters."""
    from ..data.scenes import scene_caption

    out = {}
    for k, (name, words) in enumerate((("train_words", TRAIN_WORDS),
                                       ("held_out_words", HELD_OUT_WORDS))):
        data = make_scenes(n, seed=seed + 10 + k, height=24, width=40, num_objects=(1,),
                           words=words, word_rate=1.0)
        swapped = [[dict(p, text=words[(words.index(p["text"]) + 1) % len(words)])
                    if p.get("kind") == "word" else p for p in phrases] for phrases in data.phrases]
        right = [scene_caption(p) for p in data.phrases]
        out[name] = caption_gain(pipe, data.images, right, [scene_caption(p) for p in swapped],
                                 seed, timesteps)
    return out


def score(directory: Path) -> dict:
    from ..pipelines import TextToImageXL

    pipe = TextToImageXL.from_directory(directory, vae=load_vae())
    return {**score_pipeline(pipe), "conditioning_gain": conditioning_gain(pipe)}


@torch.no_grad()
def save_half_checked(model: TinySDXL, out: Path, pipe_cls, vae: VAE, prompts=None) -> dict:
    """Store ``model`` in float16 (``checkpoints.save_checkpoint_half``) and measure what
    that changes: the largest weight change, and the largest pixel change of images drawn
    from the same noise by the float32 model and its float16 round trip."""
    save_checkpoint_half(model, out)
    SCHEDULER.save(out)
    back = load_checkpoint(TinySDXL, out)
    prompts = prompts or make_scenes(16, seed=EVAL_SEED, words=TRAIN_WORDS,
                                     **dict(SCENE_MIX, caption_style="full")).captions
    sched = SCHEDULER.make_schedule()
    images = [pipe_cls(m.eval(), vae, sched, SCHEDULER.prediction_type, SCHEDULER.timestep_spacing,
                       SCHEDULER.steps_offset)(prompts, progress=False).images for m in (model, back)]
    return {"dtype_saved": "float16", "max_abs_weight_change": round(max_weight_change(model, back), 6),
            "max_abs_pixel_change": round(float((images[0] - images[1]).abs().max()), 4),
            "images_compared": len(prompts)}


def add_scores(info: dict, score_fn, out: Path) -> dict:
    """``info["scores"] = score_fn(out)``, timed (``score_seconds``)."""
    t0 = time.perf_counter()
    info["scores"] = score_fn(out)
    info["score_seconds"] = round(time.perf_counter() - t0, 1)
    return info


# ----------------------------------------------------------------------------- training
def build_model(vae: VAE) -> TinySDXL:
    return TinySDXL(dict(UNET_CONFIG, in_channels=vae.latent_channels), TEXT_CONFIG,
                    ADDITION_TIME_EMBED_DIM)


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0, do_score: bool = True,
          buckets=None, score_fn=None, n_per_bucket=None, **data_overrides) -> dict:
    """Train and save. For ablations: ``buckets`` (default ``BUCKETS``; with
    ``n_per_bucket`` unset, as many scenes in all as ``N_PER_BUCKET`` per bucket of
    ``BUCKETS``), ``score_fn`` (default ``score``) and ``encode_bucket``'s ``scene_mix``,
    ``small_rate``, ``crop_rate``."""
    out = Path(out)
    torch.manual_seed(seed)
    buckets = tuple(BUCKETS if buckets is None else buckets)
    n_per_bucket = n_per_bucket or N_PER_BUCKET * len(BUCKETS) // len(buckets)
    vae = load_vae()
    model = build_model(vae)
    start = time.perf_counter()
    data = [encode_bucket(vae, model.text_encoder, n_per_bucket, 1_000 + 10 * seed + i, b,
                          **data_overrides) for i, b in enumerate(buckets)]
    empty = model.text_encoder.tokenize([""])
    encode_seconds = time.perf_counter() - start
    schedule = SCHEDULER.make_schedule()
    batch_size = BATCH_SIZE
    loss = ShardedLoss(lambda gen, shard: make_loss_fn(schedule, data, empty, batch_size, gen), seed)
    result = fit(model, loss, steps, lr=LR, warmup=WARMUP, ema_decay=EMA_DECAY, desc="text2img_xl")
    from ..pipelines import TextToImageXL

    fp16 = save_half_checked(result.ema.model, out, TextToImageXL, vae)
    tail = result.losses[-200:]
    te = model.text_encoder
    info = {"schedule": SCHEDULER.schedule, "prediction_type": SCHEDULER.prediction_type,
            "batch_size": batch_size, "lr": LR, "ema_decay": EMA_DECAY,
            "buckets": [list(b) for b in buckets], "n_per_bucket": n_per_bucket,
            "small_rate": data_overrides.get("small_rate", SMALL_RATE),
            "crop_rate": data_overrides.get("crop_rate", CROP_RATE),
            "scene_mix": data_overrides.get("scene_mix", SCENE_MIX),
            "dropout": {"caption": CAPTION_DROPOUT, "word": WORD_DROPOUT, "char": CHAR_DROPOUT,
                        "tokens": TOKENS_DROPOUT},
            "vae": str(VAE_DIR or "weights/vae_scenes"),
            "parameters": {"unet": sum(p.numel() for p in model.unet.parameters()),
                           "word_encoder": sum(p.numel() for p in te.word_encoder.parameters()),
                           "char_encoder": sum(p.numel() for p in te.char_encoder.parameters())},
            "encode_seconds": round(encode_seconds, 1), "train_seconds": round(result.seconds, 1),
            "final_loss_mean_last_200": round(sum(tail) / len(tail), 4), "fp16_round_trip": fp16}
    return add_scores(info, score_fn or score, out) if do_score else info
