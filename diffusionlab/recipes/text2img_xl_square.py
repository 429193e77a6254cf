"""Recipe: the tiny SDXL without its buckets (``weights/text2img_xl_square``), the ablation
lesson 17 measures multi-aspect training against.

The ``text2img_xl`` recipe unchanged (model, encoders, captions, size and crop
conditioning, dropouts, steps, seed) except for its data: every scene on the 32x32 canvas
only, as many scenes in all as the bucketed model saw across its three buckets. SDXL's
own ablation is its training history: pre-trained on squares, then fine-tuned on buckets
(Podell et al. 2023, section 2.3).

Scores (``score``): lesson 16's one-object prompts (``metrics.duplication.
one_object_prompts``, the seed of ``failure_modes.PROMPT_SEED``) drawn on each bucket of
``text2img_xl`` (``failure_modes.aspect_study``: duplication, scene and attribute accuracy,
position included), the same table ``python -m diffusionlab.failure_modes --xl`` stores for
the bucketed model; and ``text2img_xl.score_pipeline`` (the wider world's prompts per
bucket). On 24x40 and 40x24 the pipeline's ``target_size`` is the canvas, a value this
model never saw in training.
"""
from __future__ import annotations

from pathlib import Path

from . import text2img_xl as base

DEFAULT_STEPS = base.DEFAULT_STEPS
SQUARE = ((32, 32),)


def score(directory: Path) -> dict:
    from ..failure_modes import N_PROMPTS, PROMPT_SEED, aspect_study
    from ..metrics.duplication import one_object_prompts
    from ..metrics.scenes import SceneReader
    from ..pipelines import TextToImageXL

    pipe = TextToImageXL.from_directory(directory, vae=base.load_vae())
    prompts = one_object_prompts(N_PROMPTS, seed=PROMPT_SEED)
    return {**base.score_pipeline(pipe),
            "aspects": aspect_study(pipe, SceneReader.pretrained(), prompts)}


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0, do_score: bool = True) -> dict:
    return base.train(out, steps, seed, do_score, buckets=SQUARE, score_fn=score)
