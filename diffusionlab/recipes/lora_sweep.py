"""Recipe: the adapters lesson 12 compares (``weights/lora_sweep/<variant>``), all trained like
``lora_outlined`` (``recipes/_lora.py``: same data, steps, learning rate and seed):

    target sets at (nearly) equal parameter budgets, the budget of attention at rank 4:
        cross_attention   only cross-attention's to_q/k/v/out (the seed's claim), rank 8
        attention         every attention projection, self and cross (diffusers' scripts), rank 4
        rank1             attention + feed-forward + convolutions (``ATTENTION_FF_CONV``), rank 1
    the rank swept on ``ATTENTION_FF_CONV`` (rank 4 is ``lora_outlined`` itself):
        rank1, rank2  (ranks 8 and 16 were cut from the shipped sweep for time: add them to
                       ``RANKS`` to train them too)

The ranks of the target sets are those that bring their trainable parameters closest to
attention-at-rank-4's (``equal_budget_rank``). Each variant's facts and scores go to its
folder's manifest.json, and a summary of all of them to ``lora_sweep/manifest.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..nn.lora import ATTENTION, ATTENTION_FF_CONV, CROSS_ATTENTION, inject_lora, remove_lora
from ._lora import DEFAULT_STEPS, encode_style_data, score_folder, train_and_save

RANKS = (1, 2, 8, 16)             # of ATTENTION_FF_CONV; rank 4 is lora_outlined
BUDGET = (ATTENTION, 4)           # the target sets are compared at this adapter's budget
OTHER_SETS = {"cross_attention": CROSS_ATTENTION, "attention": ATTENTION}


def lora_budget(unet, targets, rank: int) -> int:
    """Trainable parameters of a rank-``rank`` adapter on ``targets`` (the U-Net is left as
    it was)."""
    params = inject_lora(unet, targets, rank=rank, adapter_name="_count", freeze=False)
    n = sum(p.numel() for p in params)
    remove_lora(unet, "_count")
    return n


def equal_budget_rank(unet, targets, budget: int, max_rank: int = 64) -> int:
    """The rank whose adapter on ``targets`` has the parameter count closest to ``budget``
    (parameters grow linearly with the rank: r (d_in + d_out) per layer)."""
    per_rank = lora_budget(unet, targets, 1)
    return max(1, min(max_rank, round(budget / per_rank)))


def variants(unet) -> dict:
    """{folder name: (target set name, targets, rank)} of every adapter this recipe trains."""
    budget = lora_budget(unet, *BUDGET)
    out = {name: (name, targets, equal_budget_rank(unet, targets, budget))
           for name, targets in OTHER_SETS.items()}
    out.update({f"rank{r}": ("attention_ff_conv", ATTENTION_FF_CONV, r) for r in RANKS})
    return out


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0, only=None) -> dict:
    import time

    from ..pipelines import TextToImage

    out = Path(out)
    pipe = TextToImage.pretrained()
    data = encode_style_data(pipe)
    summary = {}
    for folder, (set_name, targets, rank) in variants(pipe.unet).items():
        if only is not None and folder not in only:
            continue
        start = time.perf_counter()
        info = train_and_save(out / folder, targets, rank, steps, seed, data=data, pipe=pipe,
                              target_set=set_name)
        info["wall_time_s"] = round(time.perf_counter() - start, 1)
        info["command"] = f"python -m diffusionlab train lora_sweep --out {out} --seed {seed}"
        (out / folder / "manifest.json").write_text(json.dumps(info, indent=2) + "\n")
        summary[folder] = {k: info[k] for k in ("target_set", "rank", "trainable_parameters",
                                                 "file_bytes", "train_seconds", "scores")}
    return {"variants": summary, "scores": {f"{k}_style_triggered": v["scores"]["style_triggered"]
                                            for k, v in summary.items()}}


def score(directory: Path) -> dict:
    directory = Path(directory)
    return {p.name: score_folder(p) for p in sorted(directory.iterdir())
            if (p / "model.safetensors").is_file()}


__all__ = ["DEFAULT_STEPS", "RANKS", "train", "score", "variants", "equal_budget_rank",
           "lora_budget"]
