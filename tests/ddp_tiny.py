"""A tiny latent text-to-image training run, the same on 1 process or many.

``tests/test_distributed.py`` runs it in-process and under ``torchrun`` (as a script:
``torchrun --standalone --nproc_per_node 2 tests/ddp_tiny.py OUT [STEPS] [--checkpoint-dir D]
[--resume D]``), then compares the weights. Rank 0 writes ``OUT/model.safetensors``,
``OUT/ema.safetensors`` and ``OUT/losses.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from diffusionlab.distributed import run_settings
from diffusionlab.losses import diffusion_loss
from diffusionlab.nn.unet import UNet
from diffusionlab.schedules import make_schedule
from diffusionlab.training import ShardedLoss, fit, model_device

BATCH = 4                  # per shard
CONFIG = dict(in_channels=4, base_channels=16, channel_mults=(1, 2), attention_levels=(True, True),
              context_dim=8, num_heads=2)


def train_tiny(steps: int = 6, seed: int = 0, callback=None, **settings):
    """(model, FitResult) of ``steps`` steps on fixed random "latents" and "prompts";
    ``settings`` are ``distributed.RunSettings`` fields (grad_accum, resume, ...)."""
    torch.manual_seed(seed)
    schedule = make_schedule("scaled_linear")
    data = torch.randn(64, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    context = torch.randn(64, 5, 8, generator=torch.Generator().manual_seed(2))
    model = UNet(**CONFIG)

    def make_loss_fn(gen, shard):
        def loss_fn(m, step):
            idx = torch.randint(0, data.shape[0], (BATCH,), generator=gen)
            device = model_device(m)
            return diffusion_loss(m, schedule, data[idx].to(device), "epsilon", generator=gen,
                                  context=context[idx].to(device))
        return loss_fn

    with run_settings(**settings):
        result = fit(model, ShardedLoss(make_loss_fn, seed), steps, lr=2e-3, warmup=2,
                     ema_decay=0.9, progress=False, callback=callback)
    return model, result


def main(argv=None) -> None:
    import argparse
    import os

    from safetensors.torch import save_file

    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("steps", type=int, nargs="?", default=6)
    p.add_argument("--checkpoint-dir", default=None)
    p.add_argument("--resume", default=None)
    args = p.parse_args(argv)
    model, result = train_tiny(args.steps, checkpoint_dir=args.checkpoint_dir, resume=args.resume)
    if int(os.environ.get("RANK", "0")) == 0:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  str(out / "model.safetensors"))
        save_file({k: v.contiguous() for k, v in result.ema.model.state_dict().items()},
                  str(out / "ema.safetensors"))
        (out / "losses.json").write_text(json.dumps(result.losses))


if __name__ == "__main__":
    main()
