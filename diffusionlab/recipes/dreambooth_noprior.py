"""Recipe: DreamBooth on the tiny Stable Diffusion's U-Net, without the prior-preservation loss (lambda = 0)
(``weights/dreambooth_noprior``). See ``recipes/_dreambooth.py`` for the training step and
``recipes/_personalize.py`` for the subject, the identifier and the scores."""
from ._dreambooth import DEFAULT_STEPS, make_recipe

train, score = make_recipe(prior=False, lora=False)
__all__ = ["DEFAULT_STEPS", "score", "train"]
