"""One training loop for every model in the course: AdamW, gradient clipping,
an exponential moving average (EMA) of the weights, a progress bar, and the
wall time it took.

``fit(model, loss_fn, steps)`` calls ``loss_fn(model, step)`` once per step;
the caller draws its own batch inside ``loss_fn``. That keeps the loop the
same for a 2-D denoiser, a VAE, a text encoder or a latent U-Net.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from tqdm.auto import tqdm

from ._checks import check_int, check_number
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


@dataclass
class FitResult:
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    ema: EMA | None = None


def fit(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, int], torch.Tensor],
        steps: int, lr: float = 1e-3, weight_decay: float = 0.0, ema_decay: float | None = None,
        grad_clip: float | None = 1.0, warmup: int = 0, params=None, progress: bool = True,
        desc: str = "training", callback: Callable[[int, float], None] | None = None) -> FitResult:
    """Train ``model`` for ``steps`` optimizer steps; returns losses, wall time and the EMA."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError("loss_fn must be callable as loss_fn(model, step) -> scalar tensor")
    steps = check_int("steps", steps, minimum=1)
    lr = check_number("lr", lr, minimum=0.0)
    params = [p for p in (model.parameters() if params is None else params) if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (all have requires_grad=False)")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, warmup)))
    ema = EMA(model, ema_decay) if ema_decay is not None else None
    result = FitResult(ema=ema)
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(steps), desc=desc, disable=not progress or progress_disabled())
    for step in bar:
        loss = loss_fn(model, step)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
        sched.step()
        if ema is not None:
            ema.update(model)
        value = loss.item()
        result.losses.append(value)
        if callback is not None:
            callback(step, value)
        if step % 50 == 0:
            bar.set_postfix(loss=f"{value:.4f}")
    result.seconds = time.perf_counter() - start
    model.eval()
    return result
