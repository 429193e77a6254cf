"""diffusionlab: diffusion models and Stable Diffusion, taught on a laptop CPU.

Modules (one concept each):
    schedules, forward, parameterization, losses, samplers, guidance  -- the math
    distillation, profiling, diffusers_adapter  -- fast sampling (lesson 15)
    nn/        time embeddings, attention, U-Net, VAE, text encoder, ...  -- the networks
    data/      2-D toys and the captioned shapes world                   -- the data
    metrics/   sample quality, the shapes evaluator, the course's FID    -- the measures
    training, checkpoints, recipes/  -- training loop, safetensors I/O, one recipe per shipped model
    grading    -- ``python -m diffusionlab grade`` and ``check("NN")`` in a notebook
"""
__version__ = "0.1.0"


def check(number: str, exercises=None):
    """Grade exercise ``number`` (e.g. "01") from a notebook; prints the result table."""
    from .grading import check as _check

    return _check(number, exercises=exercises)
