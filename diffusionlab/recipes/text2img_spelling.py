"""Recipe: the spelling model (``weights/text2img_spelling``, lesson 16 section 6), the
tiny SDXL's classes (``nn.sdxl.TinySDXL``: word-level + character-aware encoders) trained
on one-word scenes only, in pixel space (``nn.vae.PixelSpace``), to answer one question:
can a model spell a word it never saw, and does that depend on the text encoder
(Liu et al. 2022, "Character-Aware Models Improve Visual Text Rendering")?

Why a model of its own: ``text2img_xl`` draws no readable letter in any mode (lesson 16
measures it), so its images cannot tell the encoders apart; and its word-level tokenizer
knows only the caption grammar, so every word object is ``<unk>`` to it. Two things stand
between its text encoders and the ink: a 4x autoencoder (a small word's strokes are a
quarter of a latent pixel wide) and a training mix in which words are one scene in five.
Here the U-Net draws the pixels, and every scene is a word.

Data, computed once: ``N_SCENES`` one-word scenes on a 16x40 canvas (``data.scenes.
make_scenes``, large words only: strokes 2 px wide, any colour). A large word (34 x 14 px)
fits this canvas in one place, the centre, give or take its jitter, so the caption's only
open questions are the colour and the letters. A share ``1 - RANDOM_RATE`` of the words
are ``TRAIN_WORDS``, the rest random strings of three letters (``random_strings``: never
one of ``data.glyphs.WORDS``). The word-level tokenizer knows the scene words and
``TRAIN_WORDS``; every random string is ``<unk>`` to it, as a rare word is to a fixed
vocabulary. The character-aware encoder spells every word out. ``HELD_OUT_WORDS`` are
never drawn in training: asked for at test time, they are ``<unk>`` to the word encoder
and letters the char encoder has seen in other words.

The character-aware encoder makes one context token per character (``TEXT_CONFIG``:
``char_tokens="char"``, ByT5-style, the encoder Liu et al. add to Imagen), so the U-Net's
cross-attention can read the k-th letter where the k-th glyph is drawn. ``text2img_xl``
pools each word's letters into one token (a character CNN).

Training: ``text2img_xl``'s loss and condition dropouts (one network answers the modes
"both", "word", "char", "pooled"), its scheduler and micro-conditioning (always the
native canvas here, no crop); attention at the two lower levels of the U-Net.
Earlier versions, for the record: on 24x40 (the word on any row) with attention at the
lowest level only, crisp letters whose identity barely followed the caption after 2500
steps; on this canvas with one max-pooled token per word, letters that followed it a
little (a few times chance on held-out words, and no whole word).

Scores (``score``; ``spelling_prompts``, never trained on, ``SCORE_SAMPLER``, read by
``metrics.scenes.SceneReader``): letter, word and object accuracy for ``TRAIN_WORDS`` and
``HELD_OUT_WORDS`` in each conditioning mode.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import torch

from ..data.glyphs import HELD_OUT_WORDS, LETTERS, TRAIN_WORDS, WORDS
from ..data.scenes import SCENE_WORDS, make_scenes
from ..nn.embeddings import micro_conditioning_ids
from ..nn.sdxl import TinySDXL
from ..nn.text_xl import MODES
from ..nn.vae import PixelSpace
from ..training import ShardedLoss, fit
from . import text2img_xl as base

DEFAULT_STEPS = 3000
N_SCENES = 16000
RANDOM_RATE = 0.5
CANVAS = (16, 40)
BATCH_SIZE = 32
LR = 1e-3
UNET_CONFIG = dict(in_channels=3, base_channels=32, channel_mults=(1, 2, 2), layers_per_block=1,
                   attention_levels=(False, True, True), num_heads=4)
# one context token per character (ByT5-style, ``nn.text_xl.CharEncoder``): with one max-pooled
# token per word the letters barely followed the caption (module docstring)
TEXT_CONFIG = dict(base.TEXT_CONFIG, words=list(SCENE_WORDS) + [w.lower() for w in TRAIN_WORDS],
                   char_tokens="char")
KNOBS = {"width": f"{__name__}:UNET_CONFIG.base_channels", "batch_size": f"{__name__}:BATCH_SIZE"}
EVAL_PROMPTS = 128
# DDPM's ancestral sampler: on pixels its fresh noise at each step cleans what DDIM, at this
# training length, leaves as grain on the background (which the scene reader cannot split)
SCORE_SAMPLER = dict(sampler="ddpm", num_inference_steps=50)


def random_strings() -> tuple[str, ...]:
    """Every three-letter string that is not one of ``data.glyphs.WORDS`` (17,513): the
    training strings the word-level tokenizer cannot name."""
    words = set(WORDS)
    return tuple(s for s in ("".join(t) for t in itertools.product(LETTERS, repeat=3))
                 if s not in words)


def build_model() -> TinySDXL:
    return TinySDXL(UNET_CONFIG, TEXT_CONFIG, base.ADDITION_TIME_EMBED_DIM)


def load_pipeline(directory=None):
    """``TextToImageXL`` on the shipped (or ``directory``'s) spelling model, in pixel space."""
    from ..checkpoints import weights_path
    from ..pipelines import TextToImageXL

    return TextToImageXL.from_directory(directory or weights_path("text2img_spelling"),
                                        vae=PixelSpace())


def large_word_scenes(words, n: int, seed: int, chunk: int = 2000):
    """``n`` one-word scenes at ``CANVAS`` whose word is large (``data.scenes.make_scenes``
    draws small and large alike; the small ones are dropped): (images, captions)."""
    images, captions = [], []
    k = 0
    while len(captions) < n:
        b = make_scenes(chunk, seed=seed * 1000 + k, height=CANVAS[0], width=CANVAS[1],
                        num_objects=(1,), words=words, word_rate=1.0)
        keep = [i for i, p in enumerate(b.phrases) if p[0]["size"] == "large"][:n - len(captions)]
        images.append(b.images[keep])
        captions += [b.captions[i] for i in keep]
        k += 1
    return torch.cat(images), captions


def spelling_prompts(words, n: int = EVAL_PROMPTS, seed: int = base.EVAL_SEED + 10) -> list:
    """The scoring prompts: large one-word scenes ("the large word CAT in blue at the top")."""
    return large_word_scenes(words, n, seed)[1]


@torch.no_grad()
def make_data(model: TinySDXL, n: int, seed: int) -> dict:
    """``n`` one-word scenes (module docstring) as ``text2img_xl.make_loss_fn`` takes them,
    and their ``captions``."""
    n_random = int(round(n * RANDOM_RATE))
    parts = [large_word_scenes(TRAIN_WORDS, n - n_random, 2 * seed),
             large_word_scenes(random_strings(), n_random, 2 * seed + 1)]
    captions = parts[0][1] + parts[1][1]
    tok = model.text_encoder.tokenize(captions)
    return {"latents": torch.cat([parts[0][0], parts[1][0]]), "input_ids": tok["input_ids"],
            "char_ids": tok["char_ids"],
            "time_ids": micro_conditioning_ids(CANVAS, (0, 0), CANVAS, batch_size=len(captions)),
            "captions": captions}


def generate(pipe, prompts, **kwargs) -> torch.Tensor:
    """``prompts`` drawn at ``CANVAS`` with the scoring sampler (``SCORE_SAMPLER``)."""
    return base.generate(pipe, prompts, *CANVAS, **SCORE_SAMPLER, **kwargs)


@torch.no_grad()
def score_pipeline(pipe, n: int = EVAL_PROMPTS) -> dict:
    from ..metrics.scenes import SceneReader

    reader = SceneReader.pretrained()
    out = {}
    for name, words in (("train_words", TRAIN_WORDS), ("held_out_words", HELD_OUT_WORDS)):
        prompts = spelling_prompts(words, n)
        for mode in MODES:
            s = reader.score(generate(pipe, prompts, text_encoders=mode), prompts)
            out[f"{name}_{mode}"] = {"word_accuracy": round(s.word_accuracy, 3),
                                     "letter_accuracy": round(s.letter_accuracy, 3),
                                     "object_accuracy": round(s.object_accuracy, 3)}
    out["guidance_scale"] = base.DEFAULT_GUIDANCE_SCALE
    out.update(SCORE_SAMPLER)
    return out


def score(directory: Path) -> dict:
    return score_pipeline(load_pipeline(directory))


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0, do_score: bool = True) -> dict:
    out = Path(out)
    torch.manual_seed(seed)
    model = build_model()
    data = [make_data(model, N_SCENES, 2_000 + seed)]
    empty = model.text_encoder.tokenize([""])
    schedule = base.SCHEDULER.make_schedule()
    batch_size = BATCH_SIZE
    loss = ShardedLoss(lambda gen, shard: base.make_loss_fn(schedule, data, empty, batch_size, gen),
                       seed)
    result = fit(model, loss, steps, lr=LR, warmup=base.WARMUP, ema_decay=base.EMA_DECAY,
                 desc="text2img_spelling")
    from ..pipelines import TextToImageXL

    fp16 = base.save_half_checked(result.ema.model, out, TextToImageXL, PixelSpace(),
                                  prompts=spelling_prompts(TRAIN_WORDS, 16))
    tail = result.losses[-200:]
    te = model.text_encoder
    info = {"schedule": base.SCHEDULER.schedule, "prediction_type": base.SCHEDULER.prediction_type,
            "space": "pixel", "canvas": list(CANVAS), "batch_size": batch_size, "lr": LR,
            "ema_decay": base.EMA_DECAY, "n_scenes": N_SCENES, "random_rate": RANDOM_RATE,
            "dropout": {"caption": base.CAPTION_DROPOUT, "word": base.WORD_DROPOUT,
                        "char": base.CHAR_DROPOUT, "tokens": base.TOKENS_DROPOUT},
            "parameters": {"unet": sum(p.numel() for p in model.unet.parameters()),
                           "word_encoder": sum(p.numel() for p in te.word_encoder.parameters()),
                           "char_encoder": sum(p.numel() for p in te.char_encoder.parameters())},
            "train_seconds": round(result.seconds, 1),
            "final_loss_mean_last_200": round(sum(tail) / len(tail), 4), "fp16_round_trip": fp16}
    return base.add_scores(info, score, out) if do_score else info
