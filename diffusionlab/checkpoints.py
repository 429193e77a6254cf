"""Save and load models as safetensors + a JSON config (+ a training manifest).

A checkpoint is a folder:

    model.safetensors   the state dict (no pickle: safetensors cannot run code)
    config.json         {"class": "UNet", "config": {...constructor arguments...}}
    manifest.json       how it was trained (command, seed, steps, wall time) and its scores

A model class that can be checkpointed keeps its constructor arguments in
``self.config`` (a dict of JSON-serializable values).

A *training state* (``save_training_state``: what ``--resume`` continues from) is a folder
of the same two kinds of file, one safetensors file per group of tensors (model, EMA,
optimizer moments, random generator states) and ``state.json`` for everything else.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def weights_path(name: str) -> Path:
    """Folder of a checkpoint shipped with the package (``diffusionlab/weights/<name>``)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    path = WEIGHTS_DIR / name
    if not (path / "model.safetensors").is_file():
        shipped = sorted(p.name for p in WEIGHTS_DIR.iterdir() if p.is_dir()) if WEIGHTS_DIR.is_dir() else []
        raise FileNotFoundError(f"no shipped checkpoint named {name!r} in {WEIGHTS_DIR} "
                                f"(shipped: {shipped}); retrain it with "
                                f"`python -m diffusionlab train {name} --out {path}`")
    return path


def save_checkpoint(model: torch.nn.Module, directory, manifest: dict | None = None) -> Path:
    """Write ``model`` (which must have a ``config`` dict) to ``directory``."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise TypeError(f"{type(model).__name__} has no `config` dict of constructor arguments, "
                        "so it cannot be rebuilt from a checkpoint")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(
        json.dumps({"class": type(model).__name__, "config": config}, indent=2) + "\n")
    if manifest is not None:
        (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return directory


def save_checkpoint_half(model: torch.nn.Module, directory) -> Path:
    """``save_checkpoint`` with the weights stored as float16 (half the bytes; they load back
    into a float32 model: ``load_state_dict`` casts)."""
    save_checkpoint(model, directory)
    state = {k: v.detach().cpu().half().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(Path(directory) / "model.safetensors"))
    return Path(directory)


def max_weight_change(a: torch.nn.Module, b: torch.nn.Module) -> float:
    """The largest absolute difference between two models' matching weights (e.g. a model
    and its float16 round trip)."""
    return float(max((x.float() - y.float()).abs().max()
                     for x, y in zip(a.state_dict().values(), b.state_dict().values())))


def read_manifest(directory) -> dict:
    path = Path(directory) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"no manifest.json in {directory}")
    return json.loads(path.read_text())


def load_checkpoint(cls: type, directory, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild ``cls(**config)`` and load its weights; a mismatch is a clear ValueError."""
    directory = Path(directory)
    cfg_path, w_path = directory / "config.json", directory / "model.safetensors"
    for p in (cfg_path, w_path):
        if not p.is_file():
            raise FileNotFoundError(f"checkpoint folder {directory} has no {p.name}")
    meta = json.loads(cfg_path.read_text())
    if meta.get("class") != cls.__name__:
        raise ValueError(f"checkpoint {directory} holds a {meta.get('class')!r}, "
                         f"not a {cls.__name__!r}")
    try:
        model = cls(**meta["config"])
    except TypeError as e:
        raise ValueError(f"config in {cfg_path} does not fit {cls.__name__}: {e}") from None
    state = load_file(str(w_path))
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(f"checkpoint {directory} does not fit {cls.__name__}"
                         + (f"; missing keys: {missing[:5]}" if missing else "")
                         + (f"; unexpected keys: {unexpected[:5]}" if unexpected else "")
                         + (f"; shape mismatch: {wrong[:5]}" if wrong else ""))
    model.load_state_dict(state)
    return model.to(device).eval()


STATE_FILE = "state.json"


def save_training_state(directory, tensors: dict[str, dict[str, torch.Tensor]],
                        meta: dict) -> Path:
    """Write ``{name}.safetensors`` for each group in ``tensors`` and ``state.json`` = ``meta``
    into ``directory``, replacing it as a whole (written beside it, then renamed, so an
    interrupted write never leaves half a state)."""
    import shutil

    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name, group in tensors.items():
        save_file({k: v.detach().cpu().contiguous() for k, v in group.items()},
                  str(tmp / f"{name}.safetensors"))
    (tmp / STATE_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    old = directory.with_name(directory.name + ".old")
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    if old.exists():
        shutil.rmtree(old)
    return directory


def load_training_state(directory) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    """``(tensors, meta)`` as ``save_training_state`` wrote them."""
    directory = Path(directory)
    if not (directory / STATE_FILE).is_file():
        raise FileNotFoundError(f"resume: {directory} is not a training state folder (no "
                                f"{STATE_FILE}; `train ... --checkpoint-every N` writes one "
                                f"into OUT/training_state)")
    tensors = {p.stem: load_file(str(p)) for p in sorted(directory.glob("*.safetensors"))}
    return tensors, json.loads((directory / STATE_FILE).read_text())
