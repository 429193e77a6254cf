"""A 2-D toy denoiser (ToyDenoiser, epsilon prediction, linear schedule) on "8gaussians"."""
from pathlib import Path

from ._toy import KNOBS, score_toy, train_toy  # noqa: F401 (KNOBS: the command line's)

DATASET = "8gaussians"
DEFAULT_STEPS = 6000


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0) -> dict:
    return train_toy(DATASET, out, steps, seed)


def score(directory: Path) -> dict:
    return score_toy(DATASET, directory)
