"""One recipe per shipped model: how it is trained from scratch and how it is scored.

A recipe is a module ``diffusionlab.recipes.<name>`` with

    DEFAULT_STEPS: int
    def train(out: Path, steps: int, seed: int) -> dict   # trains, saves with save_checkpoint,
                                                         # returns {"scores": {...}, ...extra}
    def score(directory: Path) -> dict                   # loads a checkpoint, returns its scores

``python -m diffusionlab train NAME --out DIR`` runs it, times it and writes
``manifest.json`` beside the weights (command, seed, steps, wall time, scores, and what it
ran on: processes, device, precision).

A recipe may also define ``KNOBS = {"width": "module:CONSTANT.key", "batch_size": ...,
"resolution": ...}``: the module constants that ``--width``, ``--batch-size`` and
``--resolution`` override for one run (``knobs_applied``), so a recipe scales up without
editing its code. ``"structure": ("module:CONSTANT.key", {"course": v0, "diffusers": v1})``
names the setting that decides whether the network maps onto a stock diffusers class
(``diffusionlab.export``): ``--structure diffusers`` (the shipped recipes' default) or
``course`` (the structure the course first shipped, ``export.compat``).
"""
from __future__ import annotations

import contextlib
import importlib
import json
import pkgutil
import platform
import time
from pathlib import Path

import torch

KNOB_NAMES = ("width", "batch_size", "resolution", "structure")
STRUCTURES = ("course", "diffusers")


def available() -> list[str]:
    """Names of the recipes in this folder (one module each)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load_recipe(name: str):
    names = available()
    if name not in names:
        raise ValueError(f"name must be one of {', '.join(names)}, got {name!r}")
    return importlib.import_module(f"diffusionlab.recipes.{name}")


def _knob_target(spec: str):
    """"module:CONSTANT.key" -> (module, constant name, dict keys)."""
    module_name, path = spec.split(":")
    name, *keys = path.split(".")
    return importlib.import_module(module_name), name, keys


@contextlib.contextmanager
def knobs_applied(recipe, knobs: dict):
    """Override ``recipe``'s constants named by its ``KNOBS`` for the duration of a block
    (each value a positive int, or for ``structure`` one of ``STRUCTURES``, which the
    recipe's table maps to the value set); the constants are restored afterwards."""
    table = getattr(recipe, "KNOBS", {})
    saved = []
    try:
        for knob, value in knobs.items():
            if knob not in table:
                have = ", ".join(sorted(table)) or "none"
                raise ValueError(f"--{knob.replace('_', '-')}: recipe "
                                 f"{recipe.__name__.rsplit('.', 1)[-1]} has no {knob} knob "
                                 f"(its knobs: {have})")
            spec = table[knob]
            if knob == "structure":
                spec, values = spec
                if value not in values:
                    raise ValueError(f"--structure must be one of {', '.join(values)}, "
                                     f"got {value!r}")
                value = values[value]
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{knob.replace('_', '-')} must be a positive int, got {value!r}")
            module, name, keys = _knob_target(spec)
            old = getattr(module, name)
            saved.append((module, name, old))
            if keys:                          # a key of a config dict: replace the dict
                new = dict(old)
                new[keys[0]] = value
                setattr(module, name, new)
            else:
                setattr(module, name, value)
        yield
    finally:
        for module, name, old in reversed(saved):
            setattr(module, name, old)


def run_recipe(name: str, out, steps: int | None = None, seed: int = 0,
               command: str | None = None, knobs: dict | None = None, resume=None,
               checkpoint_every: int = 0, precision: str = "auto", grad_accum: int = 1) -> int:
    """Train recipe ``name`` into ``out`` and write its manifest. Under a launcher (torchrun,
    accelerate launch) every process runs this; only rank 0 prints and writes."""
    from ..distributed import OtherRankDone, run_settings

    recipe = load_recipe(name)
    out = Path(out)
    steps = recipe.DEFAULT_STEPS if steps is None else steps
    knobs = {k: v for k, v in (knobs or {}).items() if v is not None}
    report: dict = {}
    torch.manual_seed(seed)
    start = time.perf_counter()
    try:
        with knobs_applied(recipe, knobs), run_settings(
                device="auto", precision=precision, grad_accum=grad_accum,
                checkpoint_dir=str(out / "training_state") if checkpoint_every else None,
                checkpoint_every=checkpoint_every,
                resume=None if resume is None else str(resume), workers_stop=True,
                report=report):
            info = recipe.train(out, steps=steps, seed=seed)
    except OtherRankDone:
        return 0
    seconds = time.perf_counter() - start
    processes = report.get("world_size", 1)
    run = {"processes": processes, "device": report.get("device", "cpu"),
           "precision": report.get("precision", "no"), "grad_accum": grad_accum}
    if processes > 1:
        run["backend"] = report.get("backend")
    if report.get("resumed_from_step"):
        run["resumed_from"] = {"dir": str(resume), "step": report["resumed_from_step"]}
    if knobs:
        run["knobs"] = knobs
    if isinstance(info.get("batch_size"), int):
        run["global_batch"] = info["batch_size"] * processes * grad_accum
    manifest = {
        "model": name,
        "command": command or f"python -m diffusionlab train {name} --out {out} --seed {seed}",
        "seed": seed,
        "steps": steps,
        "wall_time_s": round(seconds, 1),
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} CPU threads",
        "torch": torch.__version__,
        **run,
        **info,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"trained {name} in {seconds:.0f} s -> {out}")
    print(json.dumps(manifest.get("scores", {}), indent=2))
    return 0
