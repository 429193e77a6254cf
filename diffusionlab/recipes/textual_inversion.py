"""Recipe: textual inversion of the subject (``weights/textual_inversion``): one new token
``<sks>`` whose embedding row is learned, everything else frozen (Gal et al. 2022).

    v* = argmin_v E_{z, c(v), eps, t} || eps - eps_theta(z_t, t, c_theta(y; v)) ||^2    (eq. 2)

where y is a prompt holding the placeholder S* ("a large <sks> in the center"), c_theta the
frozen text encoder, eps_theta the frozen U-Net, and v the placeholder's row of the
embedding table: the only thing that moves. Steps (``TinyCLIP.add_token``,
``TinyCLIP.train_only_tokens``):

    1. add ``<sks>`` to the tokenizer, grow the embedding table by one row
       (``CLIPTextModel.resize_token_embeddings``), start the row as "circle"'s row;
    2. freeze the U-Net, the VAE and the whole text encoder except the table, and mask the
       table's gradient to that one row (``mask_embedding_grad``);
    3. AdamW without weight decay: every other row's gradient is exactly 0, so it stays
       bit-identical (tests/test_subjects.py checks every parameter);
    4. save that one vector alone: {"<sks>": (64,)}, 256 bytes of numbers.

Unlike DreamBooth the placeholder replaces the class noun (Gal et al.'s "a photo of S*"), so
the learned word must carry the whole concept, roundness included.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..losses import diffusion_loss
from ..training import fit
from ._personalize import (INIT_WORD, PLACEHOLDER, file_bytes, instance_data,
                           instance_prompts, inversion_prompt, personalization_scores)

DEFAULT_STEPS = 400
LR = 1e-2
REPEAT = 4                      # the 4 instance images appear 4 times per batch (new noise)


def make_loss_fn(unet, schedule, clip, latents: torch.Tensor, prompts: list[str], seed: int = 0,
                 prediction_type: str = "epsilon", repeat: int = REPEAT):
    """``loss_fn(clip, step)`` for ``fit``: the prompts go through the text encoder *with*
    gradients (the row must learn through it), the frozen U-Net denoises."""
    gen = torch.Generator().manual_seed(seed)
    unet.requires_grad_(False)
    x0 = latents.repeat(repeat, 1, 1, 1)

    def loss_fn(model, step):
        states = model.token_states(prompts).repeat(repeat, 1, 1)
        return diffusion_loss(unet, schedule, x0, prediction_type, generator=gen,
                              context=states)

    return loss_fn


def invert(pipe, steps: int = DEFAULT_STEPS, seed: int = 0, lr: float = LR,
           token: str = PLACEHOLDER, init_word: str = INIT_WORD, progress: bool = True,
           callback=None):
    """Textual inversion on ``pipe`` (its text encoder gains ``token``; nothing else changes).
    Returns (token id, ``FitResult``)."""
    token_id = pipe.clip.add_token(token, init_word)
    pipe._states_cache.clear()
    hook = pipe.clip.train_only_tokens([token_id])
    prompts = instance_prompts(token, replace_noun=True)
    data = instance_data(pipe, prompts=[p.replace(token, init_word) for p in prompts])
    loss_fn = make_loss_fn(pipe.unet, pipe.schedule, pipe.clip, data["latents"], prompts,
                           seed=seed, prediction_type=pipe.prediction_type)
    try:
        result = fit(pipe.clip, loss_fn, steps, lr=lr, weight_decay=0.0, grad_clip=None,
                     params=[pipe.clip.token_embedding.weight], progress=progress,
                     desc="textual inversion", callback=callback)
    finally:
        hook.remove()
        pipe.clip.requires_grad_(False).eval()
        pipe._states_cache.clear()
    return token_id, result


def load_pipe(directory, base=None):
    """The base pipeline with a fresh text encoder that knows the learned token."""
    from ..nn.text import TinyCLIP, load_textual_inversion
    from ..pipelines import TextToImage
    from ._personalize import pipe_with_unet

    base = TextToImage.pretrained() if base is None else base
    pipe = pipe_with_unet(base, base.unet)
    pipe.clip = TinyCLIP.pretrained()
    load_textual_inversion(pipe.clip, directory)
    return pipe


def train(out: Path, steps: int = DEFAULT_STEPS, seed: int = 0) -> dict:
    from ..nn.text import save_textual_inversion
    from ..pipelines import TextToImage

    out = Path(out)
    torch.manual_seed(seed)
    pipe = TextToImage.pretrained()
    start = time.perf_counter()
    _, result = invert(pipe, steps, seed)
    seconds = time.perf_counter() - start
    save_textual_inversion(pipe.clip, PLACEHOLDER, out)
    tail = result.losses[-50:]
    return {"token": PLACEHOLDER, "init_word": INIT_WORD, "lr": LR, "batch_size": 4 * REPEAT,
            "trainable_parameters": pipe.clip.context_dim,
            "unet_parameters": sum(p.numel() for p in pipe.unet.parameters()),
            "text_encoder_parameters": sum(p.numel() for p in
                                           pipe.clip.model.text_model.parameters()),
            "train_seconds": round(seconds, 1), "file_bytes": file_bytes(out),
            "final_loss_mean_last_50": round(sum(tail) / len(tail), 4),
            "scores": score(out)}


def score(directory) -> dict:
    return personalization_scores(load_pipe(directory), inversion_prompt)


__all__ = ["DEFAULT_STEPS", "invert", "load_pipe", "score", "train"]
