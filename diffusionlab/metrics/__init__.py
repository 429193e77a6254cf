"""Measures used by the lessons. Import from the submodules or from here."""
from .counting import component_labels, count_objects  # noqa: F401
from .evaluator import ShapesEvaluator  # noqa: F401
from .fid import fid_floor, frechet_distance  # noqa: F401
from .toy2d import sliced_wasserstein, toy_quality  # noqa: F401
from .images import dominant_color, high_pass, mask_iou, object_mask, psnr, region_masks, seam_error  # noqa: F401
from .duplication import duplication_rate, measure_duplication  # noqa: F401
from .receptive_field import conv_receptive_field, receptive_field, unet_fields  # noqa: F401
from .scenes import SceneReader, score_scenes  # noqa: F401
