"""Recipe: DreamBooth on the tiny Stable Diffusion's U-Net, through a LoRA adapter on the attention projections, with the prior loss
(``weights/dreambooth_lora``). See ``recipes/_dreambooth.py`` for the training step and
``recipes/_personalize.py`` for the subject, the identifier and the scores."""
from ._dreambooth import DEFAULT_STEPS, make_recipe

train, score = make_recipe(prior=True, lora=True)
__all__ = ["DEFAULT_STEPS", "score", "train"]
