"""Shared recipe of the shipped LoRA adapters (``lora_outlined``, ``lora_sweep``): a low-rank
adapter on the frozen tiny Stable Diffusion's U-Net that teaches it the outlined style
(``data.styles``), triggered by the word "object".

Data, computed once: ``N_TRAIN`` scenes, half of them large, outlined and captioned with the
trigger ("object a large red circle ..."), half plain with mixed plain captions
(``data.styles.make_style_data``); their VAE latents and their captions' token states.

Training step (the simple loss, Ho et al. 2020 eq. 14; only A and B move, Hu et al. 2021):

    z_t = q_sample(z_0, t, eps)                     t ~ U{0..T-1}
    L = || eps - U-Net_{W + (alpha/r) B A}(z_t, t, c) ||^2      c dropped to "" 10 % of the time

Scores (``adapter_scores``; held-out prompts, 20 DDIM steps, guidance 3, adapter strength 1):
    style_triggered      style score (``metrics.styles``) of "object" + large-shape prompts
    style_plain          the same prompts without the trigger (should stay near 0)
    prompt_accuracy_plain   evaluator prompt accuracy of plain full prompts, with the adapter
    prompt_accuracy_triggered   the same of the triggered prompts (content kept in the style;
                         the evaluator reads real outlined scenes less well: see the lesson)
    trainable_parameters, file_bytes
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..data.shapes import make_shapes, render
from ..data.styles import make_style_data, with_trigger
from ..nn.lora import count_lora_parameters, inject_lora, save_lora
from ..training import fit

DEFAULT_STEPS = 400
N_TRAIN = 4000
BATCH_SIZE = 32
LR = 5e-3
WARMUP = 20
CAPTION_DROPOUT = 0.1
TRAIN_SEED = 12_121
EVAL_SEED = 565_656
EVAL_PROMPTS = 64
BASE_MODEL = "text2img"


@torch.no_grad()
def encode_style_data(pipe, n: int = N_TRAIN, seed: int = TRAIN_SEED, chunk: int = 500) -> dict:
    """{"latents", "states" (row 0 = ""), "caption_index", "styled"} of ``n`` style scenes."""
    batch, styled = make_style_data(n, seed=seed)
    latents = torch.cat([pipe.vae.encode_latents(batch.images[i:i + chunk])
                         for i in range(0, n, chunk)])
    distinct = [""] + sorted(set(batch.captions) - {""})
    index = {c: i for i, c in enumerate(distinct)}
    states = pipe.encode_prompt(distinct)
    caption_index = torch.tensor([index[c] for c in batch.captions], dtype=torch.long)
    return {"latents": latents, "states": states, "caption_index": caption_index,
            "styled": styled}


def eval_prompts(n: int = EVAL_PROMPTS, seed: int = EVAL_SEED, size: str | None = "large"):
    """Held-out full prompts; with ``size`` every scene is drawn at that size (the VAE cannot
    draw a hole in a small, 8-pixel shape: see ``data.styles``)."""
    scenes = make_shapes(n, seed=seed).attributes
    if size is not None:
        scenes = [{**a, "size": size} for a in scenes]
    return render(scenes).captions


@torch.no_grad()
def adapter_scores(pipe, evaluator=None, n: int = EVAL_PROMPTS, guidance_scale: float = 3.0,
                   seed: int = 0) -> dict:
    """The style and prompt-accuracy scores of ``pipe`` as it is (with or without adapters)."""
    from ..metrics.evaluator import ShapesEvaluator
    from ..metrics.styles import style_score

    evaluator = ShapesEvaluator.pretrained() if evaluator is None else evaluator
    plain = eval_prompts(n)
    triggered = with_trigger(plain)
    full = make_shapes(n, seed=EVAL_SEED + 1).captions

    def gen(prompts):
        return pipe(prompts, guidance_scale=guidance_scale, seed=seed, progress=False).images

    img_trig, img_plain, img_full = gen(triggered), gen(plain), gen(full)
    return {"style_triggered": style_score(img_trig), "style_plain": style_score(img_plain),
            "prompt_accuracy_plain": evaluator.prompt_accuracy(img_full, full),
            "prompt_accuracy_triggered": evaluator.prompt_accuracy(img_trig, plain)}


def train_adapter(pipe, data: dict, targets, rank: int, alpha: float | None = None,
                  steps: int = DEFAULT_STEPS, seed: int = 0, adapter_name: str = "default",
                  progress: bool = True, callback=None):
    """Inject a fresh adapter into ``pipe.unet`` and train it; returns ``fit``'s result."""
    from .text2img import make_loss_fn

    torch.manual_seed(seed)
    params = inject_lora(pipe.unet, targets, rank=rank, alpha=rank if alpha is None else alpha,
                         adapter_name=adapter_name)
    loss_fn = make_loss_fn(pipe.schedule, data, BATCH_SIZE, caption_dropout=CAPTION_DROPOUT,
                           prediction_type=pipe.prediction_type, seed=seed)
    result = fit(pipe.unet, loss_fn, steps, lr=LR, warmup=WARMUP, params=params,
                 progress=progress, desc=f"lora r={rank}", callback=callback)
    pipe.unet.eval()
    return result


def train_and_save(out: Path, targets, rank: int, steps: int, seed: int, data=None,
                   pipe=None, target_set: str | None = None, do_score: bool = True) -> dict:
    """Train one adapter and save it to ``out`` (weights, config and the run's facts)."""
    from ..pipelines import TextToImage

    out = Path(out)
    pipe = TextToImage.pretrained() if pipe is None else pipe
    start = time.perf_counter()
    data = encode_style_data(pipe) if data is None else data
    encode_seconds = time.perf_counter() - start
    result = train_adapter(pipe, data, targets, rank, steps=steps, seed=seed)
    save_lora(pipe.unet, out, base_model=BASE_MODEL, target_modules=targets)
    tail = result.losses[-100:]
    unet_params = sum(p.numel() for n, p in pipe.unet.named_parameters() if "lora_" not in n)
    info = {"target_set": target_set, "target_modules": list(targets), "rank": rank,
            "alpha": rank, "batch_size": BATCH_SIZE, "lr": LR, "n_train_scenes": len(
                data["latents"]), "trainable_parameters": count_lora_parameters(pipe.unet),
            "unet_parameters": unet_params,
            "file_bytes": (out / "model.safetensors").stat().st_size,
            "encode_seconds": round(encode_seconds, 1), "train_seconds": round(result.seconds, 1),
            "final_loss_mean_last_100": round(sum(tail) / len(tail), 4)}
    if do_score:
        info["scores"] = {k: round(v, 4) for k, v in adapter_scores(pipe).items()}
    from ..nn.lora import remove_lora

    remove_lora(pipe.unet)
    return info


def score_folder(directory) -> dict:
    """Load the adapter in ``directory`` into the shipped pipeline and score it."""
    from ..pipelines import TextToImage

    pipe = TextToImage.pretrained()
    pipe.load_lora(directory)
    return {k: round(v, 4) for k, v in adapter_scores(pipe).items()}
