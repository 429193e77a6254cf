"""The skip-connection ablation of lesson 06: ``unet_pixel`` with ``use_skips=False``.

Same architecture, parameter count, data, schedule, optimizer and step count; only
the skip tensors are replaced by zeros, so everything the decoder knows has to
pass through the 8x8 bottleneck. Training and scores: see ``unet_pixel``.
"""
from pathlib import Path

from .unet_pixel import DEFAULT_STEPS, score_pixel_unet, train_pixel_unet

__all__ = ["DEFAULT_STEPS", "train", "score"]


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0) -> dict:
    return train_pixel_unet(out, steps, seed, use_skips=False)


def score(directory: Path) -> dict:
    return score_pixel_unet(directory)
