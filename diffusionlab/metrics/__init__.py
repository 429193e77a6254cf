"""Measures used by the lessons. Import from the submodules or from here."""
from .toy2d import sliced_wasserstein, toy_quality  # noqa: F401
from .counting import component_labels, count_objects  # noqa: F401
from .evaluator import ShapesEvaluator  # noqa: F401
from .fid import fid_floor, frechet_distance  # noqa: F401
