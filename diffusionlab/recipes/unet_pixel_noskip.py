"""The skip-connection ablation of lesson 06: ``unet_pixel`` with ``use_skips=False``.

Same architecture, parameter count, data, schedule, optimizer and step count; only
the skip tensors are replaced by zeros, so everything the decoder knows has to
pass through the 8x8 bottleneck. Training and scores: see ``unet_pixel``.
"""
from .unet_pixel import DEFAULT_STEPS, KNOBS, make_recipe

__all__ = ["DEFAULT_STEPS", "KNOBS", "train", "score"]

train, score = make_recipe(use_skips=False)
