"""``unet_pixel_x0`` with ``use_skips=False``: the skip ablation of lesson 06 for an
x_0-predicting ("sample") U-Net. Training and scores: see ``unet_pixel``."""
from .unet_pixel import DEFAULT_STEPS, KNOBS, make_recipe
from .unet_pixel_x0 import PREDICTION_TYPE

__all__ = ["DEFAULT_STEPS", "KNOBS", "PREDICTION_TYPE", "train", "score"]

train, score = make_recipe(use_skips=False, prediction_type=PREDICTION_TYPE)
