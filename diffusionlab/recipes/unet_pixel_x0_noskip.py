"""``unet_pixel_x0`` with ``use_skips=False``: the skip ablation of lesson 06 for an
x_0-predicting ("sample") U-Net. Training and scores: see ``unet_pixel``."""
from pathlib import Path

from .unet_pixel import DEFAULT_STEPS, score_pixel_unet, train_pixel_unet

__all__ = ["DEFAULT_STEPS", "PREDICTION_TYPE", "train", "score"]
PREDICTION_TYPE = "sample"


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0) -> dict:
    return train_pixel_unet(out, steps, seed, use_skips=False, prediction_type=PREDICTION_TYPE)


def score(directory: Path) -> dict:
    return score_pixel_unet(directory, PREDICTION_TYPE)
