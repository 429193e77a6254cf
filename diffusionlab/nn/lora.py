"""LoRA: low-rank adaptation of a frozen network (Hu et al. 2021, "LoRA: Low-Rank Adaptation
of Large Language Models").

A frozen weight W (d_out x d_in) gets a trainable update of rank r (eq. 3 of the paper):

    h = W x + (alpha / r) B A x          A: (r x d_in), B: (d_out x r), r << min(d_in, d_out)

A starts random (kaiming-uniform with a = sqrt(5), peft's default, the same as nn.Linear's own
initialisation) and B starts at zero, so B A = 0 and a fresh adapter changes nothing
(section 4.1). Only A and B train: r (d_in + d_out) numbers instead of d_in d_out. The factor
alpha / r keeps the update's size roughly independent of r when r is swept, so the learning
rate need not be retuned (section 4.1: "scale by alpha / r").

Merging folds the update into the weight, so inference costs nothing extra (section 4.1):

    W' = W + (alpha / r) s B A            s = the adapter's strength (``scale``, default 1)

and unmerging subtracts the same product again.

Several adapters may sit on one layer, each under a name, as in peft (``lora_A.<name>``);
their updates add: h = W x + sum_i s_i (alpha_i / r_i) B_i A_i x. That sum is how two styles
are mixed at chosen strengths (diffusers' ``set_adapters(names, weights)``).

Convolutions: ``LoRAConv2d`` uses peft's factorisation: A is a conv with the base kernel
(d_in -> r channels), B a 1x1 conv (r -> d_out channels); their product is a rank-r update
of the kernel reshaped to (d_out, d_in k k).

Names follow peft/diffusers: ``<module>.lora_A.<adapter>.weight`` inside the model, and
``<module>.lora_A.weight`` / ``<module>.lora_B.weight`` in a saved adapter file (diffusers'
``unet.<module>.lora_A.weight`` without the ``unet.`` prefix).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn

from .._checks import check_int, check_number

DEFAULT_TARGETS = ("to_q", "to_k", "to_v", "to_out")
# Target sets the lesson compares (names as in nn/attention.py and nn/unet.py):
CROSS_ATTENTION = ("attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out")
ATTENTION = DEFAULT_TARGETS                                   # self- and cross-attention
ATTENTION_FF_CONV = ATTENTION + ("ff.net.0.proj", "ff.net.1",  # + feed-forward
                                 "proj_in", "proj_out", "conv1", "conv2")  # + convolutions
TARGET_SETS = {"cross_attention": CROSS_ATTENTION, "attention": ATTENTION,
               "attention_ff_conv": ATTENTION_FF_CONV}
ADAPTER_FILE, CONFIG_FILE = "model.safetensors", "config.json"
CONFIG_CLASS = "LoRA"


class LoRALayer(nn.Module):
    """What a LoRA-wrapped layer shares: the frozen ``base``, one (A, B) pair per adapter name,
    their ``rank``, ``alpha`` and strength ``scale``, merging and unmerging.

    Attributes:
        base: the wrapped layer (its parameters are frozen).
        lora_A, lora_B: ``nn.ModuleDict`` of adapter name -> down / up projection.
        rank, alpha, scale: dicts of adapter name -> r, alpha and strength s.
        merged: dict of adapter name -> the factor s alpha / r folded into ``base.weight``.
    """

    def __init__(self, base: nn.Module):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.ModuleDict()
        self.lora_B = nn.ModuleDict()
        self.rank: dict[str, int] = {}
        self.alpha: dict[str, float] = {}
        self.scale: dict[str, float] = {}
        self.merged: dict[str, float] = {}

    # subclasses build the two projections and say how B A maps onto the base weight
    def _make_pair(self, rank: int) -> tuple[nn.Module, nn.Module]:
        raise NotImplementedError

    def delta_weight(self, name: str = "default") -> torch.Tensor:
        """(alpha / r) B A for adapter ``name``, shaped like ``base.weight`` (strength not
        applied)."""
        raise NotImplementedError

    def add_adapter(self, name: str = "default", rank: int = 4, alpha: float | None = None,
                    scale: float = 1.0) -> list[nn.Parameter]:
        """Add a fresh adapter: A kaiming-uniform (a = sqrt 5), B = 0. Returns [A, B]."""
        rank = check_int("rank", rank, minimum=1)
        alpha = float(rank) if alpha is None else check_number("alpha", alpha)
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"adapter name must be a non-empty str without dots, got {name!r}")
        if name in self.lora_A:
            raise ValueError(f"this layer already has an adapter named {name!r}; "
                             f"use another adapter_name or remove it first")
        if self.merged:
            raise RuntimeError("cannot add an adapter to a merged layer: unmerge_lora first")
        A, B = self._make_pair(rank)
        weight = self.base.weight
        A.to(device=weight.device, dtype=weight.dtype)
        B.to(device=weight.device, dtype=weight.dtype)
        nn.init.kaiming_uniform_(A.weight, a=math.sqrt(5))     # peft's init_lora_weights=True
        nn.init.zeros_(B.weight)                               # B = 0: B A = 0 at the start
        self.lora_A[name], self.lora_B[name] = A, B
        self.rank[name], self.alpha[name] = rank, alpha
        self.scale[name] = check_number("scale", scale)
        return [A.weight, B.weight]

    def remove_adapter(self, name: str) -> None:
        if name not in self.lora_A:
            raise KeyError(f"no adapter named {name!r} on this layer (has {list(self.lora_A)})")
        if name in self.merged:
            raise RuntimeError(f"adapter {name!r} is merged: unmerge_lora before removing it")
        del self.lora_A[name], self.lora_B[name]
        for d in (self.rank, self.alpha, self.scale):
            del d[name]

    def scaling(self, name: str = "default") -> float:
        """alpha / r of adapter ``name`` (the paper's scaling, strength not included)."""
        return self.alpha[name] / self.rank[name]

    def _lora_out(self, x: torch.Tensor) -> torch.Tensor | int:
        out = 0
        for name in self.lora_A:
            if name in self.merged or self.scale[name] == 0:
                continue
            A, B = self.lora_A[name], self.lora_B[name]
            out = out + self.scale[name] * self.scaling(name) * B(A(x))   # s (alpha/r) B A x
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self._lora_out(x)            # W x + sum s (alpha/r) B A x (eq. 3)

    @torch.no_grad()
    def merge(self, names=None) -> None:
        """W <- W + s (alpha / r) B A for each adapter in ``names`` (default: all unmerged)."""
        for name in (list(self.lora_A) if names is None else names):
            if name in self.merged:
                continue
            if not self.merged:                      # keep W itself for an exact unmerge
                self._unmerged_weight = self.base.weight.detach().clone()
            factor = self.scale[name]
            self.base.weight += factor * self.delta_weight(name)
            self.merged[name] = factor

    @torch.no_grad()
    def unmerge(self) -> None:
        """Undo ``merge``: W <- W - s (alpha / r) B A. The weight kept at merge time is put
        back, so W is restored bit for bit (subtracting would leave float rounding, ~1e-7)."""
        if self.merged:
            self.base.weight.copy_(self._unmerged_weight)
            del self._unmerged_weight
            self.merged.clear()

    def extra_repr(self) -> str:
        return ", ".join(f"{n}: rank={self.rank[n]}, alpha={self.alpha[n]:g}, "
                         f"scale={self.scale[n]:g}" + (" (merged)" if n in self.merged else "")
                         for n in self.lora_A)


class LoRALinear(LoRALayer):
    """``nn.Linear`` + low-rank updates: W x + b + sum_i s_i (alpha_i / r_i) B_i A_i x.

    Args:
        base: the frozen ``nn.Linear``.
        rank: r >= 1 of the first adapter ("default").
        alpha: alpha (default r, so alpha / r = 1).
        adapter_name: the first adapter's name.

    >>> layer = LoRALinear(nn.Linear(64, 64), rank=4, alpha=4)
    >>> layer.scale["default"] = 0.8            # strength of the adapter
    """

    def __init__(self, base: nn.Linear, rank: int = 4, alpha: float | None = None,
                 adapter_name: str = "default"):
        if not isinstance(base, nn.Linear):
            raise TypeError(f"base must be an nn.Linear, got {type(base).__name__}")
        super().__init__(base)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.add_adapter(adapter_name, rank, alpha)

    def _make_pair(self, rank):
        return (nn.Linear(self.in_features, rank, bias=False),     # A: d_in -> r
                nn.Linear(rank, self.out_features, bias=False))    # B: r -> d_out

    def delta_weight(self, name="default"):
        return self.scaling(name) * (self.lora_B[name].weight @ self.lora_A[name].weight)


class LoRAConv2d(LoRALayer):
    """``nn.Conv2d`` + low-rank updates (peft's LoRA for Conv2d): A is a conv with the base's
    kernel, stride and padding (d_in -> r channels), B a 1x1 conv (r -> d_out channels).

    The update of the kernel, (alpha / r) B A with A flattened to (r, d_in k k), has rank
    at most r. Grouped convolutions are not supported.
    """

    def __init__(self, base: nn.Conv2d, rank: int = 4, alpha: float | None = None,
                 adapter_name: str = "default"):
        if not isinstance(base, nn.Conv2d):
            raise TypeError(f"base must be an nn.Conv2d, got {type(base).__name__}")
        if base.groups != 1:
            raise ValueError(f"LoRAConv2d supports groups=1 only, got groups={base.groups}")
        super().__init__(base)
        self.in_channels, self.out_channels = base.in_channels, base.out_channels
        self.add_adapter(adapter_name, rank, alpha)

    def _make_pair(self, rank):
        b = self.base
        return (nn.Conv2d(self.in_channels, rank, b.kernel_size, b.stride, b.padding,
                          b.dilation, bias=False),
                nn.Conv2d(rank, self.out_channels, 1, bias=False))

    def delta_weight(self, name="default"):
        A, B = self.lora_A[name].weight, self.lora_B[name].weight   # (r, d_in, k, k), (d_out, r, 1, 1)
        delta = B.flatten(1) @ A.flatten(1)                         # (d_out, d_in k k), rank <= r
        return self.scaling(name) * delta.view_as(self.base.weight)


LORA_LAYERS = {nn.Linear: LoRALinear, nn.Conv2d: LoRAConv2d}


# ---------------------------------------------------------------------------- a whole model
def _matches(name: str, target: str) -> bool:
    """peft's rule: a target names a module if it is the module's full name or its suffix
    after a dot ("to_q" matches "....attn1.to_q"; "attn2.to_q" only cross-attention's)."""
    return name == target or name.endswith("." + target)


def _check_targets(target_modules) -> tuple[str, ...]:
    if isinstance(target_modules, str):
        target_modules = (target_modules,)
    if not isinstance(target_modules, (list, tuple)) or not target_modules or \
            not all(isinstance(t, str) and t for t in target_modules):
        raise TypeError(f"target_modules must be a str or a non-empty list of module names "
                        f"(e.g. {DEFAULT_TARGETS}), got {target_modules!r}")
    return tuple(target_modules)


def lora_layers(model: nn.Module) -> dict[str, LoRALayer]:
    """{module name: LoRA layer} for every LoRA-wrapped layer in ``model``."""
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALayer)}


def adapter_names(model: nn.Module) -> list[str]:
    """The adapter names present in ``model``, in the order they were added."""
    names: dict[str, None] = {}
    for layer in lora_layers(model).values():
        names.update(dict.fromkeys(layer.lora_A))
    return list(names)


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def inject_lora(model: nn.Module, target_modules=DEFAULT_TARGETS, rank: int = 4,
                alpha: float | None = 4, adapter_name: str = "default",
                freeze: bool = True) -> list[nn.Parameter]:
    """Wrap every ``nn.Linear`` / ``nn.Conv2d`` whose name matches ``target_modules`` with a
    LoRA layer (or add an adapter to one already wrapped), like peft's ``inject_adapter``.

    Args:
        model: any module, e.g. the U-Net (names as in ``nn/attention.py``: to_q, to_k, to_v,
            to_out; attn1 = self-attention, attn2 = cross-attention).
        target_modules: module names or dotted suffixes (peft's rule, see ``_matches``); the
            presets ``CROSS_ATTENTION``, ``ATTENTION``, ``ATTENTION_FF_CONV``.
        rank: r >= 1.  alpha: alpha (None = r). The update is scaled by alpha / r.
        adapter_name: the name the new adapter is stored under.
        freeze: freeze every parameter of ``model`` that is not a LoRA parameter (default).

    Returns:
        the new adapter's parameters [A_1, B_1, A_2, B_2, ...], the only ones to optimize.

    Raises:
        ValueError if rank < 1 or a target matches no module; TypeError if it matches a layer
        that is neither Linear nor Conv2d.
    """
    rank = check_int("rank", rank, minimum=1)
    targets = _check_targets(target_modules)
    existing = lora_layers(model)
    candidates = [(n, m) for n, m in model.named_modules()
                  if not any(n == e or n.startswith(e + ".") for e in existing) or n in existing]
    chosen: dict[str, nn.Module] = {}
    for target in targets:
        hits = [(n, m) for n, m in candidates if _matches(n, target)]
        if not hits:
            leaves = sorted({n.rsplit(".", 1)[-1] for n, m in candidates
                             if isinstance(m, (nn.Linear, nn.Conv2d))})
            raise ValueError(f"target module {target!r} matches no module of "
                             f"{type(model).__name__}; Linear/Conv2d names there: {leaves}")
        for n, m in hits:
            if not isinstance(m, (nn.Linear, nn.Conv2d, LoRALayer)):
                raise TypeError(f"target {target!r} matches {n!r}, a {type(m).__name__}; "
                                f"LoRA wraps nn.Linear and nn.Conv2d only")
            chosen[n] = m
    if freeze:
        for p in model.parameters():
            p.requires_grad_(False)
    params: list[nn.Parameter] = []
    for n, m in chosen.items():
        if isinstance(m, LoRALayer):
            params += m.add_adapter(adapter_name, rank, alpha)
        else:
            layer = LORA_LAYERS[type(m)](m, rank, alpha, adapter_name)
            _set_module(model, n, layer)
            params += [layer.lora_A[adapter_name].weight, layer.lora_B[adapter_name].weight]
    for p in params:
        p.requires_grad_(True)
    return params


def _adapter_layers(model: nn.Module, adapter_name: str) -> dict[str, LoRALayer]:
    layers = {n: m for n, m in lora_layers(model).items() if adapter_name in m.lora_A}
    if not layers:
        raise ValueError(f"model has no LoRA adapter named {adapter_name!r} "
                         f"(adapters: {adapter_names(model)})")
    return layers


def set_lora_scale(model: nn.Module, scale: float, adapter_name: str = "default") -> None:
    """Set the strength s of adapter ``adapter_name`` on every layer (0 = off, 1 = as trained)."""
    scale = check_number("scale", scale)
    for layer in _adapter_layers(model, adapter_name).values():
        if adapter_name in layer.merged:
            raise RuntimeError("the adapter is merged: unmerge_lora before changing its scale")
        layer.scale[adapter_name] = scale


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its base weight (W <- W + s (alpha/r) B A): same outputs, no
    extra cost per step. Returns ``model``."""
    for layer in lora_layers(model).values():
        layer.merge()
    return model


def unmerge_lora(model: nn.Module) -> nn.Module:
    """Undo ``merge_lora`` (W <- W - s (alpha/r) B A). Returns ``model``."""
    for layer in lora_layers(model).values():
        layer.unmerge()
    return model


def remove_lora(model: nn.Module, adapter_name: str | None = None) -> nn.Module:
    """Remove adapter ``adapter_name`` (None = all), unmerging first; a layer left with no
    adapter is replaced by its base layer again (diffusers' ``unload_lora_weights``)."""
    for name, layer in lora_layers(model).items():
        names = list(layer.lora_A) if adapter_name is None else \
            [adapter_name] if adapter_name in layer.lora_A else []
        if not names:
            continue
        merged = [n for n in layer.merged if n not in names]
        layer.unmerge()
        for n in names:
            layer.remove_adapter(n)
        layer.merge(merged)
        if not layer.lora_A:
            _set_module(model, name, layer.base)
    return model


def lora_parameters(model: nn.Module, adapter_name: str = "default") -> list[nn.Parameter]:
    """[A, B, ...] of adapter ``adapter_name`` in module order."""
    return [p for layer in _adapter_layers(model, adapter_name).values()
            for p in (layer.lora_A[adapter_name].weight, layer.lora_B[adapter_name].weight)]


def lora_state_dict(model: nn.Module, adapter_name: str = "default") -> dict[str, torch.Tensor]:
    """Only the adapter's tensors, with diffusers/peft file names:
    ``<module>.lora_A.weight`` and ``<module>.lora_B.weight`` (no base weight)."""
    out = {}
    for name, layer in _adapter_layers(model, adapter_name).items():
        out[f"{name}.lora_A.weight"] = layer.lora_A[adapter_name].weight.detach()
        out[f"{name}.lora_B.weight"] = layer.lora_B[adapter_name].weight.detach()
    return out


def lora_config(model: nn.Module, adapter_name: str = "default", base_model: str | None = None,
                target_modules=None) -> dict:
    """The small config saved beside the tensors (peft's adapter_config.json, in spirit)."""
    layers = _adapter_layers(model, adapter_name)
    ranks = {layer.rank[adapter_name] for layer in layers.values()}
    alphas = {layer.alpha[adapter_name] for layer in layers.values()}
    if len(ranks) != 1 or len(alphas) != 1:
        raise ValueError(f"adapter {adapter_name!r} has layers of different ranks/alphas "
                         f"({sorted(ranks)}, {sorted(alphas)}); save supports one rank")
    return {"rank": ranks.pop(), "alpha": alphas.pop(),
            "target_modules": list(target_modules) if target_modules else sorted(layers),
            "modules": sorted(layers), "base_model": base_model}


def save_lora(model: nn.Module, directory, base_model: str, adapter_name: str = "default",
              target_modules=None, manifest: dict | None = None) -> Path:
    """Write the adapter alone: ``model.safetensors`` (``lora_state_dict``), ``config.json``
    ({"class": "LoRA", "config": {rank, alpha, target_modules, modules, base_model}}) and
    optionally ``manifest.json``. ``base_model`` names the model it was trained on (e.g.
    "text2img"); ``load_lora`` refuses the file for any other."""
    from safetensors.torch import save_file

    if not isinstance(base_model, str) or not base_model:
        raise TypeError(f"base_model must name the model the adapter was trained on "
                        f"(e.g. 'text2img'), got {base_model!r}")
    config = lora_config(model, adapter_name, base_model, target_modules)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.cpu().contiguous() for k, v in lora_state_dict(model, adapter_name).items()}
    save_file(state, str(directory / ADAPTER_FILE), metadata={"format": "pt"})
    (directory / CONFIG_FILE).write_text(
        json.dumps({"class": CONFIG_CLASS, "config": config}, indent=2) + "\n")
    if manifest is not None:
        (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return directory


def read_lora_config(directory) -> dict:
    """The ``config`` dict of a saved adapter folder (a clear error if it is not one)."""
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not path.is_file() or not (directory / ADAPTER_FILE).is_file():
        raise FileNotFoundError(f"{directory} is not a LoRA adapter folder (needs {CONFIG_FILE} "
                                f"and {ADAPTER_FILE}, as save_lora writes)")
    meta = json.loads(path.read_text())
    if meta.get("class") != CONFIG_CLASS:
        raise ValueError(f"{directory} holds a {meta.get('class')!r} checkpoint, not a LoRA "
                         f"adapter")
    return meta["config"]


def load_lora(model: nn.Module, directory, adapter_name: str = "default",
              base_model: str | None = None, scale: float = 1.0) -> nn.Module:
    """Inject the adapter saved in ``directory`` into ``model`` under ``adapter_name`` at
    strength ``scale`` (the model is frozen). ``base_model`` is the name of ``model``'s
    checkpoint: if given, an adapter saved for another base model is refused. Every tensor
    must fit a module of ``model`` (a clear error otherwise)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    config = read_lora_config(directory)
    if base_model is not None and config.get("base_model") not in (None, base_model):
        raise ValueError(f"the adapter in {directory} was trained for base model "
                         f"{config['base_model']!r}, not {base_model!r}: its update only makes "
                         f"sense on the weights it was trained on")
    scale = check_number("scale", scale)
    state = load_file(str(directory / ADAPTER_FILE))
    modules = config["modules"]
    expected = {f"{m}.lora_{ab}.weight" for m in modules for ab in "AB"}
    if set(state) != expected:
        raise ValueError(f"{directory}: the tensors do not match the config's modules "
                         f"(missing {sorted(expected - set(state))[:3]}, unexpected "
                         f"{sorted(set(state) - expected)[:3]})")
    own = dict(model.named_modules())
    missing = [m for m in modules if m not in own]
    if missing:
        raise ValueError(f"the adapter in {directory} targets modules this "
                         f"{type(model).__name__} does not have: {missing[:3]} (an adapter for "
                         f"another architecture?)")
    if adapter_name in adapter_names(model):
        raise ValueError(f"model already has an adapter named {adapter_name!r}; pass another "
                         f"adapter_name or remove_lora first")
    # dry-run the shapes before touching the model
    for m in modules:
        layer = own[m]
        base = layer.base if isinstance(layer, LoRALayer) else layer
        A, B = state[f"{m}.lora_A.weight"], state[f"{m}.lora_B.weight"]
        want_in = base.in_features if isinstance(base, nn.Linear) else base.in_channels
        want_out = base.out_features if isinstance(base, nn.Linear) else base.out_channels
        if A.shape[0] != config["rank"] or A.shape[1] != want_in or B.shape[0] != want_out:
            raise ValueError(f"the adapter in {directory} does not fit {m}: A {tuple(A.shape)}, "
                             f"B {tuple(B.shape)} vs a layer {want_in} -> {want_out} at rank "
                             f"{config['rank']} (an adapter for another model?)")
    inject_lora(model, tuple(modules), rank=config["rank"], alpha=config["alpha"],
                adapter_name=adapter_name)
    layers = lora_layers(model)
    with torch.no_grad():
        for m in modules:
            layers[m].lora_A[adapter_name].weight.copy_(state[f"{m}.lora_A.weight"])
            layers[m].lora_B[adapter_name].weight.copy_(state[f"{m}.lora_B.weight"])
            layers[m].scale[adapter_name] = scale
    return model


def count_lora_parameters(model: nn.Module, adapter_name: str = "default") -> int:
    """Number of trainable numbers in adapter ``adapter_name``: sum of r (d_in + d_out) (times
    k k for a convolution's A)."""
    return sum(p.numel() for p in lora_parameters(model, adapter_name))


def lora_num_parameters(d_in: int, d_out: int, rank: int, kernel: int = 1) -> int:
    """r (d_in k^2 + d_out): the size of one layer's adapter (k = 1 for a Linear layer)."""
    return check_int("rank", rank, minimum=1) * (d_in * kernel * kernel + d_out)


def lora_delta(layer: LoRALayer, name: str = "default") -> torch.Tensor:
    """The update s (alpha / r) B A that ``merge`` would add to ``layer.base.weight``."""
    return layer.scale[name] * layer.delta_weight(name)


# ---------------------------------------------------------------------------- SD 1.5 at scale
# Stable Diffusion 1.5's U-Net (diffusers' UNet2DConditionModel config of
# runwayml/stable-diffusion-v1-5): block_out_channels (320, 640, 1280, 1280), cross-attention to
# 768-wide CLIP states, one transformer block per attention, attention in the first three down
# levels (2 each), the middle (1) and the last three up levels (3 each): 16 transformer blocks,
# 32 attention layers. tests/test_lora.py checks both numbers against diffusers itself.
SD15_UNET_PARAMETERS = 859_520_964
SD15_TRANSFORMER_CHANNELS = (320,) * 2 + (640,) * 2 + (1280,) * 2 + (1280,) + \
    (1280,) * 3 + (640,) * 3 + (320,) * 3             # down 0-2, mid, up 1-3
SD15_CONTEXT_DIM = 768


def sd15_attention_layers(context_dim: int = SD15_CONTEXT_DIM) -> list[tuple[str, int, int]]:
    """(name, d_in, d_out) of every attention projection of SD 1.5's U-Net: per transformer
    block of width C, self-attention's to_q/k/v/out (C -> C) and cross-attention's to_q (C -> C),
    to_k/to_v (768 -> C) and to_out (C -> C)."""
    layers = []
    for i, c in enumerate(SD15_TRANSFORMER_CHANNELS):
        for p in ("to_q", "to_k", "to_v", "to_out"):
            layers.append((f"block{i}.attn1.{p}", c, c))
        layers.append((f"block{i}.attn2.to_q", c, c))
        layers.append((f"block{i}.attn2.to_k", context_dim, c))
        layers.append((f"block{i}.attn2.to_v", context_dim, c))
        layers.append((f"block{i}.attn2.to_out", c, c))
    return layers


__all__ = ["LoRALayer", "LoRALinear", "LoRAConv2d", "inject_lora", "merge_lora", "unmerge_lora",
           "remove_lora", "set_lora_scale", "lora_state_dict", "lora_parameters", "lora_config",
           "save_lora", "load_lora", "read_lora_config", "lora_layers", "adapter_names",
           "count_lora_parameters", "lora_num_parameters", "lora_delta", "DEFAULT_TARGETS",
           "CROSS_ATTENTION", "ATTENTION", "ATTENTION_FF_CONV", "TARGET_SETS",
           "SD15_UNET_PARAMETERS", "sd15_attention_layers"]
