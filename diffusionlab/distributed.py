"""Training on one process or many, CPU or GPU: the engine under ``training.fit``.

``python -m diffusionlab train NAME`` runs unchanged under ``torchrun`` or ``accelerate
launch``: the launcher starts one process per device and sets ``WORLD_SIZE`` / ``RANK``;
Hugging Face Accelerate then joins them into one group (gloo on CPUs, NCCL on GPUs), puts
the model on this process's device and wraps it in ``DistributedDataParallel`` (DDP: each
process computes the gradient of its own part of the batch, an all-reduce averages them, so
every process takes the same optimizer step). Nothing here reimplements that; this module
only picks the engine and says who does what:

    one process, the model's own device, fp32        _Plain: the loop the course always ran
    several processes, a GPU, or mixed precision     _Accelerated: Accelerate does the rest

Only the main process (rank 0) prints and writes files. ``RunSettings`` carries the
command line's choices (precision, gradient accumulation, checkpoints, resume) to ``fit``
without every recipe passing them along; ``run_settings(...)`` sets them for a block.
"""
from __future__ import annotations

import atexit
import contextlib
import contextvars
import os
from dataclasses import dataclass, replace

import torch

from ._checks import check_choice, check_int

PRECISIONS = ("auto", "no", "bf16", "fp16")
DEVICES = ("model", "auto")


@dataclass(frozen=True)
class RunSettings:
    """How ``fit`` runs, beyond a recipe's hyper-parameters.

    device            "model": train where the model already is (library use, notebooks);
                      "auto": the launcher's / Accelerate's choice (a GPU when present)
    precision         "no" (fp32), "bf16", "fp16", or "auto": bf16 on a GPU that supports
                      it, else fp32 (CPUs: fp32, which keeps single-process runs bit-exact)
    grad_accum        micro-batches per optimizer step on each process
    checkpoint_dir    where ``fit`` writes its training state (None: nowhere)
    checkpoint_every  every how many optimizer steps it does (0: only at the end)
    resume            a training state folder to continue from (``--resume DIR``)
    workers_stop      True under ``python -m diffusionlab train``: after ``fit`` the other
                      ranks stop (``OtherRankDone``) while rank 0 saves and scores
    report            a dict ``fit`` fills with what it ran on (world_size, device,
                      precision, grad_accum, backend), for the manifest
    """

    device: str = "model"
    precision: str = "no"
    grad_accum: int = 1
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0
    resume: str | None = None
    workers_stop: bool = False
    report: dict | None = None

    def __post_init__(self):
        check_choice("device", self.device, DEVICES)
        check_choice("precision", self.precision, PRECISIONS)
        check_int("grad_accum", self.grad_accum, minimum=1)
        check_int("checkpoint_every", self.checkpoint_every, minimum=0)


_SETTINGS = contextvars.ContextVar("diffusionlab_run_settings", default=RunSettings())


def current_settings() -> RunSettings:
    return _SETTINGS.get()


@contextlib.contextmanager
def run_settings(**changes):
    """``with run_settings(precision="bf16", grad_accum=4): recipe.train(...)``."""
    token = _SETTINGS.set(replace(_SETTINGS.get(), **changes))
    try:
        yield _SETTINGS.get()
    finally:
        _SETTINGS.reset(token)


class OtherRankDone(Exception):
    """Raised by ``fit`` on ranks > 0 under ``python -m diffusionlab train`` once training is
    over: rank 0 alone saves the weights and scores them."""


def is_main_process() -> bool:
    """True on rank 0 of a launched run, and in any process no launcher started."""
    return int(os.environ.get("RANK", "0")) == 0


def launched_world_size() -> int:
    """How many processes the launcher (torchrun, accelerate launch) started; 1 if none."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _leave_process_group() -> None:
    """Destroy the process group while the interpreter is still whole. A process that exits
    without this can abort (SIGABRT, "terminate called without an active exception"): gloo's
    worker threads are torn down during interpreter finalization (pytorch/pytorch#179291)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" -> "bf16" on a CUDA device that supports it, else "no" (fp32)."""
    if precision != "auto":
        return precision
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


class _Plain:
    """One process on the model's device in fp32: exactly the loop ``fit`` always ran."""

    num_processes, process_index, is_main_process = 1, 0, True

    def __init__(self, model: torch.nn.Module):
        param = next(model.parameters(), None)
        self.device = param.device if param is not None else torch.device("cpu")
        self.precision = "no"
        self.backend = None

    def prepare(self, model, optimizer):
        return model, optimizer

    def backward(self, loss):
        loss.backward()

    def clip_grad_norm_(self, params, max_norm):
        torch.nn.utils.clip_grad_norm_(params, max_norm)

    def no_sync(self, model):
        return contextlib.nullcontext()

    def unwrap_model(self, model):
        return model

    def mean(self, value: float) -> float:
        return value

    def gather(self, obj) -> list:
        return [obj]

    def wait_for_everyone(self):
        pass


class _Accelerated:
    """Accelerate's ``Accelerator``: device placement, the process group, DDP, autocast."""

    def __init__(self, settings: RunSettings, model: torch.nn.Module):
        from accelerate import Accelerator, PartialState
        from accelerate.state import AcceleratorState

        cpu = not torch.cuda.is_available()     # Accelerate runs CPU processes only if told
        device = PartialState(cpu=cpu).device   # joins the process group; this process's device
        atexit.unregister(_leave_process_group)  # once, however many times fit runs
        atexit.register(_leave_process_group)
        precision = resolve_precision(settings.precision, device)
        AcceleratorState._reset_state()         # fit may run more than once in a process
        self._acc = Accelerator(cpu=cpu, mixed_precision=precision,
                                step_scheduler_with_optimizer=False)
        self.device = self._acc.device
        self.precision = precision
        self.num_processes = self._acc.num_processes
        self.process_index = self._acc.process_index
        self.is_main_process = self._acc.is_main_process
        self.backend = self._acc.state.backend if self.num_processes > 1 else None

    def prepare(self, model, optimizer):
        return self._acc.prepare(model, optimizer)

    def backward(self, loss):
        self._acc.backward(loss)

    def clip_grad_norm_(self, params, max_norm):
        self._acc.clip_grad_norm_(params, max_norm)

    def no_sync(self, model):
        return self._acc.no_sync(model)

    def unwrap_model(self, model):
        """The trained module itself, without DDP and without the autocast that mixed
        precision wrapped around its forward (so later calls run as before training)."""
        return self._acc.unwrap_model(model, keep_fp32_wrapper=False)

    def mean(self, value: float) -> float:
        """The mean of ``value`` over the processes (the logged loss of the global batch)."""
        if self.num_processes == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        return float(self._acc.reduce(t, reduction="mean"))

    def gather(self, obj) -> list:
        """Every process's ``obj`` (any picklable value), in rank order, on every process."""
        if self.num_processes == 1:
            return [obj]
        from accelerate.utils import gather_object

        return gather_object([obj])

    def wait_for_everyone(self):
        self._acc.wait_for_everyone()


def make_engine(settings: RunSettings, model: torch.nn.Module):
    """``_Accelerated`` when launched on several processes, asked for mixed precision, or
    told to pick the device while a GPU is present; ``_Plain`` otherwise."""
    wants_gpu = settings.device == "auto" and torch.cuda.is_available()
    if launched_world_size() > 1 or settings.precision not in ("no", "auto") or wants_gpu:
        return _Accelerated(settings, model)
    return _Plain(model)
