"""One training loop for every model in the course: AdamW, gradient clipping,
an exponential moving average (EMA) of the weights, a progress bar, and the
wall time it took; on one process or many (``distributed``), with checkpoints to
resume from.

``fit(model, loss_fn, steps)`` calls ``loss_fn(model, step)`` once per step;
the caller draws its own batch inside ``loss_fn``. That keeps the loop the
same for a 2-D denoiser, a VAE, a text encoder or a latent U-Net.

To train on several processes, or to accumulate gradients, the loss must say how to draw
*part* of a batch: a ``ShardedLoss``. One optimizer step then uses S = world size x
``grad_accum`` shards; shard j draws its data from its own generator, seeded
``shard_seed(seed, j)``, and process r computes shards r*A .. r*A + A - 1. The step's
gradient is the mean of the S shard gradients (DDP averages across processes, accumulation
within one), so a run depends on S, not on how S is split: 2 processes give the weights
1 process with ``grad_accum=2`` gives (``tests/test_distributed.py``). Shard 0 is seeded
``seed`` itself: one process without accumulation draws exactly what it always drew.
"""
from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from ._checks import check_int, check_number
from .distributed import OtherRankDone, current_settings, make_engine
from .samplers import progress_disabled


class EMA:
    """theta_ema <- decay theta_ema + (1 - decay) theta, after every optimizer step.

    ``ema.model`` is a frozen copy used for evaluation and sampling.
    """

    def __init__(self, model: torch.nn.Module, decay: float = 0.999):
        self.decay = check_number("decay", decay, minimum=0.0, maximum=1.0)
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for p_ema, p in zip(self.model.parameters(), model.parameters()):
            p_ema.lerp_(p.detach(), 1.0 - self.decay)
        for b_ema, b in zip(self.model.buffers(), model.buffers()):
            b_ema.copy_(b)


def shard_seed(seed: int, shard: int) -> int:
    """The seed of shard ``shard``'s generator: ``seed`` for shard 0 (the single-process
    stream), then seeds far from any other run's ``seed``."""
    return seed if shard == 0 else seed + 1_000_003 * shard


@dataclass(frozen=True)
class ShardedLoss:
    """A loss that can draw one shard of a global batch.

    ``make(generator, shard)`` returns the ``loss_fn(model, step)`` of shard ``shard``;
    it draws every random number (batch indices, timesteps, noise...) from ``generator``,
    which ``fit`` creates (seeded ``shard_seed(seed, shard)``) and saves in its checkpoints.
    """

    make: Callable[[torch.Generator, int], Callable[[torch.nn.Module, int], torch.Tensor]]
    seed: int = 0


@dataclass
class FitResult:
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    ema: EMA | None = None


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of ``model``'s parameters (where a loss function puts its batch)."""
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _shards(loss_fn, engine, grad_accum: int) -> list:
    """This process's ``(shard, generator, loss_fn)`` triples."""
    n = engine.num_processes * grad_accum
    if isinstance(loss_fn, ShardedLoss):
        out = []
        for j in range(engine.process_index * grad_accum, (engine.process_index + 1) * grad_accum):
            gen = torch.Generator().manual_seed(shard_seed(loss_fn.seed, j))
            out.append((j, gen, loss_fn.make(gen, j)))
        return out
    if not callable(loss_fn):
        raise TypeError("loss_fn must be callable as loss_fn(model, step) -> scalar tensor, "
                        "or a ShardedLoss")
    if n > 1:
        raise ValueError(f"loss_fn draws whole batches, so it cannot be split over "
                         f"{engine.num_processes} process(es) x grad_accum {grad_accum}; "
                         f"pass a ShardedLoss (see training.ShardedLoss)")
    return [(0, None, loss_fn)]


# ------------------------------------------------------------------ training state
def _optimizer_tensors(opt) -> tuple[dict, list]:
    state = opt.state_dict()
    tensors = {f"{i}.{name}": v for i, s in state["state"].items() for name, v in s.items()}
    return tensors, state["param_groups"]


def _load_optimizer(opt, tensors: dict, groups: list) -> None:
    state: dict = {}
    for key, v in tensors.items():
        i, name = key.split(".", 1)
        state.setdefault(int(i), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_state(directory, engine, model, ema, opt, sched, shards, step: int, losses: list,
               n_shards: int) -> None:
    """Everything a resumed run needs (``checkpoints.save_training_state``); every process
    hands rank 0 its generators' states, rank 0 writes."""
    from .checkpoints import save_training_state

    gens = engine.gather({j: g.get_state() for j, g, _ in shards if g is not None})
    torch_rngs = engine.gather(torch.get_rng_state())
    if engine.is_main_process:
        rng = {f"shard_{j}": s for part in gens for j, s in part.items()}
        rng.update({f"torch_rank_{r}": s for r, s in enumerate(torch_rngs)})
        opt_tensors, groups = _optimizer_tensors(opt)
        tensors = {"model": model.state_dict(), "optimizer": opt_tensors, "rng": rng}
        if ema is not None:
            tensors["ema"] = ema.model.state_dict()
        meta = {"step": step, "losses": losses, "shards": n_shards,
                "world_size": engine.num_processes, "optimizer_param_groups": groups,
                "lr_scheduler": sched.state_dict()}
        save_training_state(directory, tensors, meta)
    engine.wait_for_everyone()


def load_state(directory, engine, model, ema, opt, sched, shards, n_shards: int):
    """Restore what ``save_state`` wrote; returns ``(step, losses)``."""
    from .checkpoints import load_training_state

    tensors, meta = load_training_state(directory)
    if meta["shards"] != n_shards:
        raise ValueError(f"resume: {directory} was written by a run of {meta['shards']} shards "
                         f"(processes x grad_accum), this run has {n_shards}")
    if (ema is None) != ("ema" not in tensors):
        raise ValueError(f"resume: {directory} {'has no' if ema is not None else 'has an'} EMA, "
                         f"this run {'keeps' if ema is not None else 'keeps no'} one")
    model.load_state_dict(tensors["model"])
    if ema is not None:
        ema.model.load_state_dict(tensors["ema"])
    _load_optimizer(opt, tensors["optimizer"], meta["optimizer_param_groups"])
    sched.load_state_dict(meta["lr_scheduler"])
    rng = tensors["rng"]
    for j, gen, _ in shards:
        if gen is not None:
            gen.set_state(rng[f"shard_{j}"])
    mine = f"torch_rank_{engine.process_index}"
    if mine in rng and meta["world_size"] == engine.num_processes:
        torch.set_rng_state(rng[mine])
    return meta["step"], list(meta["losses"])


# ------------------------------------------------------------------ the loop
def fit(model: torch.nn.Module, loss_fn, steps: int, lr: float = 1e-3, weight_decay: float = 0.0,
        ema_decay: float | None = None, grad_clip: float | None = 1.0, warmup: int = 0,
        params=None, progress: bool = True, desc: str = "training",
        callback: Callable[[int, float], None] | None = None) -> FitResult:
    """Train ``model`` for ``steps`` optimizer steps; returns losses, wall time and the EMA.

    ``loss_fn(model, step)`` returns a scalar loss, or is a ``ShardedLoss``. How the loop
    runs beyond that (processes, device, precision, accumulation, checkpoints, resume)
    comes from ``distributed.current_settings()``; by default: this process, the model's
    device, fp32, no checkpoints, exactly the loop of the course's shipped models.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn) and not isinstance(loss_fn, ShardedLoss):
        raise TypeError("loss_fn must be callable as loss_fn(model, step) -> scalar tensor")
    steps = check_int("steps", steps, minimum=1)
    lr = check_number("lr", lr, minimum=0.0)
    settings = current_settings()
    if not isinstance(loss_fn, ShardedLoss) and settings.device == "auto":
        settings = replace(settings, device="model")    # its batches are made on the CPU
    engine = make_engine(settings, model)
    accum = settings.grad_accum
    shards = _shards(loss_fn, engine, accum)
    n_shards = engine.num_processes * accum
    if engine.process_index > 0 and isinstance(loss_fn, ShardedLoss):
        torch.manual_seed(shard_seed(loss_fn.seed, shards[0][0]))     # per-rank global RNG
    model.to(engine.device)
    params = [p for p in (model.parameters() if params is None else params) if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (all have requires_grad=False)")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, warmup)))
    ema = EMA(model, ema_decay) if ema_decay is not None else None
    result = FitResult(ema=ema)
    first = 0
    if settings.resume is not None:
        if not isinstance(loss_fn, ShardedLoss):
            raise ValueError("resume needs a ShardedLoss: a plain loss_fn keeps its random "
                             "generator to itself, so its data stream cannot be restored")
        first, result.losses = load_state(settings.resume, engine, model, ema, opt, sched,
                                          shards, n_shards)
        if first >= steps:
            raise ValueError(f"resume: {settings.resume} is at step {first}, nothing is left "
                             f"of steps={steps}")
    wrapped, opt = engine.prepare(model, opt)
    if settings.report is not None:
        settings.report.update(world_size=engine.num_processes, device=str(engine.device),
                               precision=engine.precision, grad_accum=accum,
                               backend=engine.backend, resumed_from_step=first)
    wrapped.train()
    start = time.perf_counter()
    quiet = not progress or progress_disabled() or not engine.is_main_process
    bar = tqdm(range(first, steps), desc=desc, disable=quiet, initial=first, total=steps)
    for step in bar:
        values = []
        for m, (_, _, shard_loss) in enumerate(shards):
            sync = engine.no_sync(wrapped) if m < accum - 1 else contextlib.nullcontext()
            with sync:
                loss = shard_loss(wrapped, step)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss.item()} at step {step}")
                if m == 0:
                    opt.zero_grad(set_to_none=True)
                engine.backward(loss if accum == 1 else loss / accum)   # mean over shards
            values.append(loss.item())
        if grad_clip is not None:
            engine.clip_grad_norm_(params, grad_clip)
        opt.step()
        sched.step()
        if ema is not None:
            ema.update(model)
        value = engine.mean(values[0] if accum == 1 else sum(values) / accum)
        result.losses.append(value)
        if callback is not None:
            callback(step, value)
        if step % 50 == 0:
            bar.set_postfix(loss=f"{value:.4f}")
        done = step + 1
        every = settings.checkpoint_every
        if settings.checkpoint_dir is not None and (done == steps or (every and done % every == 0)):
            save_state(Path(settings.checkpoint_dir), engine, model, ema, opt, sched, shards,
                       done, result.losses, n_shards)
    result.seconds = time.perf_counter() - start
    engine.unwrap_model(wrapped).eval()
    engine.wait_for_everyone()
    if settings.workers_stop and not engine.is_main_process:
        raise OtherRankDone()
    return result
