"""Recipe: the outlined-style LoRA (``weights/lora_outlined``), the adapter lesson 12 shows:
rank 4, alpha 4, on every attention projection (to_q, to_k, to_v, to_out of self- and
cross-attention), the feed-forward layers, the spatial transformers' proj_in / proj_out and the
ResBlocks' 3x3 convolutions of the frozen ``text2img`` U-Net (``nn.lora.ATTENTION_FF_CONV``:
what kohya trains with ``conv_dim``). Chosen because it learned the style fastest in a probe of
the three target sets; ``lora_sweep`` measures that comparison at equal budgets. See
``recipes/_lora.py`` for the data, the training step and the scores."""
from __future__ import annotations

from pathlib import Path

from ..nn.lora import ATTENTION_FF_CONV
from ._lora import DEFAULT_STEPS, score_folder, train_and_save

RANK = 4


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0) -> dict:
    return train_and_save(out, ATTENTION_FF_CONV, RANK, steps, seed, target_set="attention_ff_conv")


def score(directory: Path) -> dict:
    return score_folder(directory)


__all__ = ["DEFAULT_STEPS", "train", "score"]
