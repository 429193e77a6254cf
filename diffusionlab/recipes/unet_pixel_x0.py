"""``unet_pixel`` trained to predict x_0 ("sample") instead of the noise (lesson 06).

Same network, data, schedule, optimizer and step count as ``unet_pixel``; only the
training target differs. With its twin ``unet_pixel_x0_noskip`` it shows the skip
ablation for a network whose output is the clean image, so that the gap is about
image detail alone (an epsilon network must also reproduce the noise, see lesson 06).
"""
from .unet_pixel import DEFAULT_STEPS, KNOBS, make_recipe

__all__ = ["DEFAULT_STEPS", "KNOBS", "PREDICTION_TYPE", "train", "score"]
PREDICTION_TYPE = "sample"

train, score = make_recipe(use_skips=True, prediction_type=PREDICTION_TYPE)
