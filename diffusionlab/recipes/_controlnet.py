"""Shared recipe of the two shipped ControlNets (``controlnet_edges``, ``controlnet_masks``):
a ControlNet (``nn.controlnet``) trained on top of the frozen tiny Stable Diffusion.

Data, computed once: ``N_TRAIN`` free-form scenes (``data.freeform``: continuous centre,
radius and rotation; circles, squares, triangles and outlines no caption names: stars,
rings, block letters), their VAE latents, their captions' token states ("a red shape",
"a blue circle", 10 % empty) and their control maps (edge maps or masks, 1 x 32 x 32).

Training step (Zhang et al. 2023, eq. 4; only the ControlNet's parameters move):

    z_t = q_sample(z_0, t, eps)                          closed form, t ~ U{0..T-1}
    r, r_mid = ControlNet(z_t, t, c, map)                trainable copy + zero convolutions
    L = || eps - U-Net(z_t, t, c; skips + r, mid + r_mid) ||^2       the U-Net frozen

Scores (``score``): on ``EVAL_SCENES`` held-out scenes (a seed never used in training) and
on held-out scenes of each outline, the IoU between the generated object's mask and the
scene's true mask, and the colour the evaluator reads, at conditioning scales 0, 0.25, 0.5,
0.75 and 1; the identity check of a freshly built ControlNet.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..checkpoints import load_checkpoint, save_checkpoint
from ..data.freeform import OUTLINES, make_free_shapes
from ..nn.controlnet import ControlNet
from ..training import fit

DEFAULT_STEPS = 3000
N_TRAIN = 20_000
BATCH_SIZE = 64
LR = 1e-3
WARMUP = 100
EMA_DECAY = 0.99
SCALES = (0.0, 0.25, 0.5, 0.75, 1.0)
EVAL_SCENES = 256
EVAL_SEED = 909_090
TRAIN_SEED = 31_337


def control_maps(batch, kind: str) -> torch.Tensor:
    """The (n, 1, S, S) control maps of a batch of scenes: "edges" or "masks"."""
    if kind not in ("edges", "masks"):
        raise ValueError(f"kind must be 'edges' or 'masks', got {kind!r}")
    return batch.edges if kind == "edges" else batch.masks


@torch.no_grad()
def encode_scenes(pipe, batch, chunk: int = 500) -> dict:
    """Latents and caption token states of a batch of scenes (distinct captions once)."""
    n = len(batch)
    latents = torch.cat([pipe.vae.encode_latents(batch.images[i:i + chunk])
                         for i in range(0, n, chunk)])
    distinct = sorted(set(batch.captions))
    states = pipe.encode_prompt(distinct)
    index = {c: i for i, c in enumerate(distinct)}
    rows = torch.tensor([index[c] for c in batch.captions])
    return {"latents": latents, "states": states, "rows": rows}


def make_loss_fn(unet, schedule, data: dict, maps: torch.Tensor, batch_size: int = BATCH_SIZE,
                 seed: int = 0, prediction_type: str = "epsilon"):
    """``loss_fn(controlnet, step)`` for ``fit``: the frozen ``unet`` with the ControlNet's
    residuals, the simple loss on a random batch."""
    from ..losses import diffusion_loss

    gen = torch.Generator().manual_seed(seed)
    unet.requires_grad_(False)
    latents, states, rows = data["latents"], data["states"], data["rows"]

    def loss_fn(controlnet, step):
        idx = torch.randint(0, latents.shape[0], (batch_size,), generator=gen)
        cond, context = maps[idx], states[rows[idx]]

        def model(z_t, t):
            down, mid = controlnet(z_t, t, context, cond)
            return unet(z_t, t, context, down_residuals=down, mid_residual=mid)

        return diffusion_loss(model, schedule, latents[idx], prediction_type, generator=gen)

    return loss_fn


@torch.no_grad()
def control_scores(pipe, kind: str, scales=SCALES, n: int = EVAL_SCENES, seed: int = EVAL_SEED,
                   outlines=OUTLINES, evaluator=None) -> dict:
    """{scale: {"iou", "color_accuracy"}} for generated images of held-out scenes: the
    prompt names the colour (and the shape when it has a word), the map gives the outline.
    IoU is between the generated object's mask and the true mask; colour is what the
    evaluator reads, against the colour asked for."""
    from ..metrics.evaluator import ShapesEvaluator
    from ..metrics.images import mask_iou, object_mask

    evaluator = ShapesEvaluator.pretrained() if evaluator is None else evaluator
    batch = make_free_shapes(n, seed=seed, outlines=outlines, empty_caption_rate=0.0)
    maps = control_maps(batch, kind)
    wanted = [a["color"] for a in batch.attributes]
    out = {}
    for s in scales:
        images = pipe(batch.captions, image=maps, controlnet_conditioning_scale=s, seed=0,
                      progress=False).images
        colors = [p["color"] for p in evaluator.predict(images)]
        out[float(s)] = {
            "iou": float(mask_iou(object_mask(images), batch.masks).mean()),
            "color_accuracy": sum(c == w for c, w in zip(colors, wanted)) / n}
    return out


def train(out: Path, kind: str, steps: int = DEFAULT_STEPS, seed: int = 0,
          n_train: int = N_TRAIN) -> dict:
    from ..pipelines import TextToImage

    out = Path(out)
    torch.manual_seed(seed)
    pipe = TextToImage.pretrained()
    start = time.perf_counter()
    batch = make_free_shapes(n_train, seed=TRAIN_SEED + seed)
    data = encode_scenes(pipe, batch)
    maps = control_maps(batch, kind)
    encode_seconds = time.perf_counter() - start
    controlnet = ControlNet.from_unet(pipe.unet, conditioning_channels=1,
                                      conditioning_downscale=pipe.vae.downscale)
    loss_fn = make_loss_fn(pipe.unet, pipe.schedule, data, maps, seed=seed,
                           prediction_type=pipe.prediction_type)
    result = fit(controlnet, loss_fn, steps, lr=LR, warmup=WARMUP, ema_decay=EMA_DECAY,
                 desc=f"controlnet_{kind}")
    save_checkpoint(result.ema.model, out)
    tail = result.losses[-100:]
    trainable = sum(p.numel() for p in controlnet.parameters())
    return {"kind": kind, "batch_size": BATCH_SIZE, "lr": LR, "ema_decay": EMA_DECAY,
            "n_train_scenes": n_train, "trainable_parameters": trainable,
            "frozen_unet_parameters": sum(p.numel() for p in pipe.unet.parameters()),
            "encode_seconds": round(encode_seconds, 1),
            "train_seconds": round(result.seconds, 1),
            "final_loss_mean_last_100": round(sum(tail) / len(tail), 4),
            "scores": score(out, kind)}


def score(directory, kind: str) -> dict:
    from ..metrics.evaluator import ShapesEvaluator
    from ..pipelines import ControlNetPipeline, TextToImage

    controlnet = load_checkpoint(ControlNet, directory)
    pipe = ControlNetPipeline.from_pipeline(TextToImage.pretrained(), controlnet)
    evaluator = ShapesEvaluator.pretrained()
    scores = {}
    for s, v in control_scores(pipe, kind, evaluator=evaluator).items():
        scores[f"iou_s{s:g}"] = round(v["iou"], 4)
        scores[f"color_accuracy_s{s:g}"] = round(v["color_accuracy"], 4)
    for outline in ("star", "ring", "letter H"):
        v = control_scores(pipe, kind, scales=(1.0,), n=64, outlines=(outline,),
                           evaluator=evaluator)[1.0]
        scores[f"iou_{outline.replace(' ', '_')}"] = round(v["iou"], 4)
    return scores


def make_recipe(kind: str):
    """``train`` and ``score`` for one kind of control map."""

    def train_kind(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0) -> dict:
        return train(out, kind, steps=steps, seed=seed)

    def score_kind(directory: Path) -> dict:
        return score(directory, kind)

    return train_kind, score_kind
