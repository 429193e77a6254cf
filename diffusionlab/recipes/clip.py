"""Recipe: the tiny CLIP (``diffusionlab.nn.text.TinyCLIP``), trained contrastively on
shapes scenes with mixed captions (full and partial), a fresh batch every step.

Scores (on scenes never seen in training):
    retrieval_t2i       text-to-image retrieval among 100 scenes with full captions: for each
                        caption, the most similar image; a hit when that image has exactly
                        the query's caption (duplicates count as hits). Target >= 0.95.
    zero_shot_<attr>    zero-shot classification of 500 images per attribute: the most
                        similar prompt among "a circle" / "a square" / "a triangle" (shape),
                        "a red shape" / ... (color), "a small shape" / ... (size),
                        "a shape at the top left" / ... (position).

Shipped run (``diffusionlab/weights/clip/manifest.json``): 1500 steps of batch 128, seed 0,
219k parameters (0.9 MB); retrieval 1.00 and zero-shot >= 0.998 on every attribute. Shape
is the last attribute learned (retrieval passes 0.95 near step 500, shape zero-shot near 750).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..data.shapes import ATTRIBUTES, CAPTION_WORDS, caption_for, make_shapes, parse_caption
from ..nn.text import TinyCLIP
from ..distributed import is_main_process
from ..training import ShardedLoss, fit, model_device, shard_seed

DEFAULT_STEPS = 1500
BATCH = 128
LR = 2e-3
MODEL_KWARGS = dict(hidden_size=64, layers=2, heads=4, projection_dim=64, patch_size=4)
# command-line knobs (``train clip --width W --batch-size B``)
KNOBS = {"width": f"{__name__}:MODEL_KWARGS.hidden_size", "batch_size": f"{__name__}:BATCH"}
EVAL_SEED = 987_654            # evaluation scenes: far from the training seeds
_TRAIN_SEED_STRIDE = 1_000_003


def match_matrix(captions: list[str], labels: dict) -> torch.Tensor:
    """(n, n) bool: ``[i, j]`` = caption i is true of image j (every attribute it names
    matches image j's attributes). The soft contrastive targets are built from it."""
    n = len(captions)
    match = torch.ones(n, n, dtype=torch.bool)
    named = [parse_caption(c) for c in captions]
    for key, values in ATTRIBUTES.items():
        idx = torch.tensor([values.index(p[key]) if key in p else -1 for p in named])
        match &= (idx[:, None] == -1) | (idx[:, None] == labels[key][None, :])
    return match


@torch.no_grad()
def retrieval_accuracy(clip: TinyCLIP, n: int = 100, seed: int = EVAL_SEED) -> float:
    """Text-to-image retrieval among ``n`` fresh full-caption scenes (see module doc)."""
    batch = make_shapes(n, seed=seed, caption_style="full")
    best = clip.similarity(batch.captions, batch.images).argmax(dim=1)
    hits = [batch.captions[int(j)] == c for j, c in zip(best, batch.captions)]
    return sum(hits) / n


def zero_shot_prompts(attribute: str) -> list[str]:
    """One prompt per value of ``attribute``: "a circle", "a red shape", "a small shape", ..."""
    return [caption_for({attribute: v}, keep=(attribute,)) for v in ATTRIBUTES[attribute]]


@torch.no_grad()
def zero_shot_accuracy(clip: TinyCLIP, n: int = 500, seed: int = EVAL_SEED + 1) -> dict:
    """Per attribute, the fraction of ``n`` fresh images whose most similar prompt is right."""
    batch = make_shapes(n, seed=seed, caption_style="full")
    img = clip.encode_image(batch.images)
    scores = {}
    for key in ATTRIBUTES:
        pred = (img @ clip.encode_text(zero_shot_prompts(key)).T).argmax(dim=1).cpu()
        scores[key] = float((pred == batch.labels[key]).float().mean())
    return scores


def evaluate(clip: TinyCLIP) -> dict:
    clip.eval()
    scores = {"retrieval_t2i": retrieval_accuracy(clip)}
    scores.update({f"zero_shot_{k}": v for k, v in zero_shot_accuracy(clip).items()})
    return {k: round(v, 3) for k, v in scores.items()}


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0, log_every: int = 250) -> dict:
    out = Path(out)
    torch.manual_seed(seed)
    clip = TinyCLIP(CAPTION_WORDS, **MODEL_KWARGS)
    batch_size = BATCH

    def make_loss_fn(gen, shard):            # shard 0: the single-process stream
        data_seed = shard_seed(seed, shard)

        def loss_fn(model: TinyCLIP, step: int) -> torch.Tensor:
            batch = make_shapes(batch_size, seed=data_seed * _TRAIN_SEED_STRIDE + step + 1,
                                caption_style="mixed")
            match = match_matrix(batch.captions, batch.labels).to(model_device(model))
            return model(batch.captions, batch.images, match)

        return loss_fn

    def log(step: int, loss: float) -> None:
        if log_every and (step + 1) % log_every == 0 and is_main_process():
            print(f"step {step + 1}: loss {loss:.3f}  {evaluate(clip)}", flush=True)
            clip.train()

    result = fit(clip, ShardedLoss(make_loss_fn, seed), steps, lr=LR, weight_decay=0.01,
                 warmup=100, desc="tiny CLIP", callback=log)
    clip.eval()
    clip.save(out)
    n_params = sum(p.numel() for p in clip.parameters())
    return {"scores": score(out), "parameters": n_params,
            "final_loss": round(sum(result.losses[-50:]) / min(50, len(result.losses)), 4),
            "batch": batch_size, "lr": LR, "model_kwargs": MODEL_KWARGS,
            "logit_scale": round(float(clip.model.logit_scale.detach().exp()), 2)}


def score(directory) -> dict:
    return evaluate(TinyCLIP.from_pretrained(directory))
