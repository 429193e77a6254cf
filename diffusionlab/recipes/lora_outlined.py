"""Recipe: the outlined-style LoRA (``weights/lora_outlined``), the adapter lesson 12 shows:
rank 4, alpha 4, on every attention projection of the frozen ``text2img`` U-Net (to_q, to_k,
to_v, to_out of self- and cross-attention, diffusers' default ``target_modules``). See
``recipes/_lora.py`` for the data, the training step and the scores."""
from __future__ import annotations

from pathlib import Path

from ..nn.lora import ATTENTION
from ._lora import DEFAULT_STEPS, score_folder, train_and_save

RANK = 4


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0) -> dict:
    return train_and_save(out, ATTENTION, RANK, steps, seed, target_set="attention")


def score(directory: Path) -> dict:
    return score_folder(directory)


__all__ = ["DEFAULT_STEPS", "train", "score"]
