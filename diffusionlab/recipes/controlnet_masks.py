"""Recipe: the ControlNet on masks (``weights/controlnet_masks``), behind
``ControlNetPipeline.pretrained("masks")``. See ``recipes/_controlnet.py`` for the data, the
training step and the scores."""
from ._controlnet import DEFAULT_STEPS, make_recipe  # noqa: F401

train, score = make_recipe("masks")
