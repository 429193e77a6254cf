"""Training throughput of the text2img recipe, on one process or under a launcher.

    python -m diffusionlab.benchmark                         # 1 process
    torchrun --nproc_per_node 2 -m diffusionlab.benchmark    # 2 processes (gloo on CPUs)

Trains the recipe's U-Net (``recipes.text2img``: the same model, loss and optimizer) on a
small encoded set for ``--warmup`` + ``--steps`` optimizer steps and prints, from rank 0,
the steps per second and training images per second of the timed steps. ``--batch-size``
is per process (the recipe's 64 by default), so the global batch is that times the number
of processes. A measurement, not a test: the README quotes its output.
"""
from __future__ import annotations

import argparse
import time

import torch


def main(argv=None) -> int:
    from .distributed import run_settings
    from .nn.text import TinyCLIP
    from .nn.unet import UNet
    from .nn.vae import VAE
    from .recipes import text2img as recipe
    from .training import ShardedLoss, fit

    p = argparse.ArgumentParser(prog="python -m diffusionlab.benchmark")
    p.add_argument("--steps", type=int, default=40, help="timed optimizer steps")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    p.add_argument("--batch-size", type=int, default=recipe.BATCH_SIZE, help="per process")
    p.add_argument("--precision", default="auto", choices=("auto", "no", "bf16", "fp16"))
    args = p.parse_args(argv)

    torch.manual_seed(0)
    vae, clip = VAE.pretrained(), TinyCLIP.pretrained()
    data = recipe.encode_dataset(vae, clip, 2000, seed=1_000)
    schedule = recipe.SCHEDULER.make_schedule()
    model = UNet(**recipe.UNET_CONFIG, context_dim=clip.context_dim)
    loss = ShardedLoss(lambda gen, shard: recipe.make_loss_fn(schedule, data, args.batch_size,
                                                              generator=gen))
    marks: dict = {}

    def clock(step, value):
        if step + 1 == args.warmup:
            marks["start"] = time.perf_counter()

    report: dict = {}
    with run_settings(device="auto", precision=args.precision, report=report):
        fit(model, loss, args.warmup + args.steps, lr=recipe.LR, warmup=recipe.WARMUP,
            ema_decay=recipe.EMA_DECAY, progress=False, callback=clock)
    seconds = time.perf_counter() - marks["start"]
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        n = report.get("world_size", 1)
        print(f"text2img U-Net: {n} process(es) x {torch.get_num_threads()} thread(s) on "
              f"{report.get('device')}, precision {report.get('precision')}, batch "
              f"{args.batch_size} per process (global {args.batch_size * n}): "
              f"{args.steps / seconds:.2f} steps/s, "
              f"{args.steps * args.batch_size * n / seconds:.0f} images/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
