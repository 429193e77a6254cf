"""Where the time of a sampling step goes (lesson 15, D31-Q6 revisited).

Sampling time = (number of U-Net evaluations) x (cost of one evaluation). Solvers and
distillation cut the first factor; this module measures the second against the machine:

    count_flops(fn)            floating-point operations of one call (FlopCounterMode:
                               2 per multiply-add of every matmul and convolution)
    time_call(fn)              median wall time of a call
    matmul_gflops()            what the machine reaches on one large matmul (the roof)
    profile_by_op_type(fn)     torch.profiler's self CPU time, summed per kind of operator
    time_by_layer_type(model)  wall time per kind of layer (forward hooks, no profiler)
    unet_variants(unet, ...)   the standard tools: channels-last, bf16 autocast,
                               torch.compile, batch size, threads

    python -m diffusionlab.profiling --out FILE.json     # everything, for the lesson

Run it alone on the machine (``flock /tmp/dl-cpu.lock``): wall times are the machine's,
not the model's; FLOP counts are the model's.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import torch

from ._checks import check_int

# operator name fragments -> the kind of work (first match wins)
OP_KINDS = (
    ("attention", ("scaled_dot_product", "softmax", "_flash_attention", "bmm", "baddbmm")),
    ("convolution", ("conv",)),
    ("linear (matmul)", ("addmm", "aten::mm", "aten::linear", "matmul")),
    ("normalization", ("group_norm", "layer_norm", "batch_norm")),
    ("activation", ("silu", "gelu", "sigmoid", "tanh")),
    ("resize", ("upsample", "interpolate", "avg_pool", "max_pool")),
    ("elementwise and copies", ("add", "mul", "sub", "div", "cat", "copy", "clone", "contiguous",
                                "to_copy", "fill", "chunk", "permute", "view", "reshape",
                                "transpose", "expand", "split", "empty", "zero", "sin", "cos",
                                "exp", "pow", "sqrt", "neg", "index", "select", "slice",
                                "unsqueeze", "squeeze", "t", "as_strided", "stack")),
)


def count_flops(fn, *args, **kwargs) -> int:
    """FLOPs of ``fn(*args, **kwargs)`` as torch counts them (2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def time_call(fn, *args, repeat: int = 5, warmup: int = 1, **kwargs) -> float:
    """Median seconds of ``fn(*args, **kwargs)`` over ``repeat`` calls after ``warmup``."""
    repeat = check_int("repeat", repeat, minimum=1)
    with torch.no_grad():
        for _ in range(warmup):
            fn(*args, **kwargs)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn(*args, **kwargs)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(n: int = 1024, repeat: int = 5) -> float:
    """GFLOP/s of an n x n by n x n float32 matmul (2 n^3 FLOPs): about the most this
    machine's cores do with torch's BLAS."""
    n = check_int("n", n, minimum=8)
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n ** 3 / time_call(torch.mm, a, b, repeat=repeat) / 1e9


def op_kind(name: str) -> str:
    """The kind of work an operator name stands for (``OP_KINDS``), or "other"."""
    low = name.lower()
    for kind, fragments in OP_KINDS:
        if any(f in low for f in fragments):
            return kind
    return "other"


def profile_by_op_type(fn, *args, repeat: int = 3, **kwargs) -> dict:
    """{kind: share of self CPU time} of ``fn(*args, **kwargs)`` over ``repeat`` calls
    (torch.profiler; each operator's *self* time, so nothing is counted twice)."""
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad():
        fn(*args, **kwargs)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(repeat):
                fn(*args, **kwargs)
    totals: dict = {}
    for event in prof.key_averages():
        kind = op_kind(event.key)
        totals[kind] = totals.get(kind, 0.0) + event.self_cpu_time_total
    whole = sum(totals.values()) or 1.0
    return {k: v / whole for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def time_by_layer_type(model, *args, repeat: int = 3, **kwargs) -> dict:
    """{layer type: share of wall time} of ``model(*args, **kwargs)``: every leaf module
    (Conv2d, Linear, GroupNorm, ...) is timed with forward hooks; what no leaf does (the
    attention product itself, residual adds, reshapes, concatenating skips) is "the rest"."""
    import collections

    totals: dict = collections.defaultdict(float)
    starts: dict = {}
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]

    def pre(module, inputs):
        starts[id(module)] = time.perf_counter()

    def post(module, inputs, output):
        totals[type(module).__name__] += time.perf_counter() - starts.pop(id(module))

    handles = [h for m in leaves for h in (m.register_forward_pre_hook(pre),
                                           m.register_forward_hook(post))]
    try:
        with torch.no_grad():
            model(*args, **kwargs)
            totals.clear()
            start = time.perf_counter()
            for _ in range(repeat):
                model(*args, **kwargs)
            whole = time.perf_counter() - start
    finally:
        for h in handles:
            h.remove()
    shares = {k: v / whole for k, v in totals.items()}
    shares["the rest (attention product, adds, reshapes, skips)"] = max(0.0, 1 - sum(shares.values()))
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))


def unet_inputs(unet, batch: int, context_len: int = 12, size: int = 8, seed: int = 0):
    """(z, t, context): a batch of random latents, timesteps and token states of the
    shapes a sampling step feeds ``unet``."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, unet.in_channels, size, size, generator=g)
    t = torch.randint(0, 1000, (batch,), generator=g)
    context = torch.randn(batch, context_len, unet.context_dim, generator=g)
    return z, t, context


@contextlib.contextmanager
def threads(n: int):
    """Run a block with ``torch.set_num_threads(n)``, then restore."""
    old = torch.get_num_threads()
    torch.set_num_threads(check_int("n", n, minimum=1))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def unet_variants(unet, batch: int = 32, repeat: int = 5, compile: bool = True) -> dict:
    """Seconds per pass of ``unet`` at ``batch`` for: eager fp32 (the baseline),
    channels-last memory format, bf16 autocast, torch.compile (after its compile), and
    eager on 1 thread. Each variant works on its own copy of the model."""
    import copy

    z, t, c = unet_inputs(unet, batch)
    out = {"eager fp32": time_call(unet, z, t, c, repeat=repeat)}
    cl = copy.deepcopy(unet).to(memory_format=torch.channels_last)
    out["channels-last"] = time_call(cl, z.to(memory_format=torch.channels_last), t, c,
                                     repeat=repeat)

    def bf16(*a):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return unet(*a)

    out["bf16 autocast"] = time_call(bf16, z, t, c, repeat=repeat)
    with threads(1):
        out["1 thread"] = time_call(unet, z, t, c, repeat=repeat)
    if compile:
        compiled = torch.compile(copy.deepcopy(unet))
        start = time.perf_counter()
        with torch.no_grad():
            compiled(z, t, c)
        out["torch.compile: first call (compiling)"] = time.perf_counter() - start
        out["torch.compile"] = time_call(compiled, z, t, c, repeat=repeat)
    return out


def batch_throughput(unet, batches=(1, 4, 16, 64, 256), repeat: int = 3) -> dict:
    """{batch: latents per second} of one U-Net pass."""
    return {b: b / time_call(unet, *unet_inputs(unet, b), repeat=repeat) for b in batches}


def main(argv=None) -> int:
    from .pipelines import TextToImage

    p = argparse.ArgumentParser(prog="python -m diffusionlab.profiling")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args(argv)
    pipe = TextToImage.pretrained()
    unet = pipe.unet
    z, t, c = unet_inputs(unet, args.batch)
    flops = count_flops(unet, z, t, c)
    base = time_call(unet, z, t, c, repeat=7)
    result = {"threads": torch.get_num_threads(), "batch": args.batch,
              "gflop_per_pass": flops / 1e9, "seconds_per_pass": base,
              "unet_gflops": flops / base / 1e9, "matmul_gflops": matmul_gflops(),
              "profile": profile_by_op_type(unet, z, t, c),
              "layer_types": time_by_layer_type(unet, z, t, c),
              "variants_seconds": unet_variants(unet, args.batch),
              "batch_latents_per_second": batch_throughput(unet)}
    text = json.dumps(result, indent=2)
    print(text)
    with open(args.out, "w") as f:
        f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
