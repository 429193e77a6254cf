"""Recipe: the ControlNet on edges (``weights/controlnet_edges``), behind
``ControlNetPipeline.pretrained("edges")``. See ``recipes/_controlnet.py`` for the data, the
training step and the scores."""
from ._controlnet import DEFAULT_STEPS, make_recipe  # noqa: F401

train, score = make_recipe("edges")
