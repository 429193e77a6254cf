"""One recipe per shipped model: how it is trained from scratch and how it is scored.

A recipe is a module ``diffusionlab.recipes.<name>`` with

    DEFAULT_STEPS: int
    def train(out: Path, steps: int, seed: int) -> dict   # trains, saves with save_checkpoint,
                                                         # returns {"scores": {...}, ...extra}
    def score(directory: Path) -> dict                   # loads a checkpoint, returns its scores

``python -m diffusionlab train NAME --out DIR`` runs it, times it and writes
``manifest.json`` beside the weights (command, seed, steps, wall time, scores).
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import platform
import time
from pathlib import Path

import torch


def available() -> list[str]:
    """Names of the recipes in this folder (one module each)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load_recipe(name: str):
    names = available()
    if name not in names:
        raise ValueError(f"name must be one of {', '.join(names)}, got {name!r}")
    return importlib.import_module(f"diffusionlab.recipes.{name}")


def run_recipe(name: str, out, steps: int | None = None, seed: int = 0,
               command: str | None = None) -> int:
    recipe = load_recipe(name)
    out = Path(out)
    steps = recipe.DEFAULT_STEPS if steps is None else steps
    torch.manual_seed(seed)
    start = time.perf_counter()
    info = recipe.train(out, steps=steps, seed=seed)
    seconds = time.perf_counter() - start
    manifest = {
        "model": name,
        "command": command or f"python -m diffusionlab train {name} --out {out} --seed {seed}",
        "seed": seed,
        "steps": steps,
        "wall_time_s": round(seconds, 1),
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} CPU threads",
        "torch": torch.__version__,
        **info,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"trained {name} in {seconds:.0f} s -> {out}")
    print(json.dumps(manifest.get("scores", {}), indent=2))
    return 0
