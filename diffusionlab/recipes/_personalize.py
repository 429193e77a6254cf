"""Shared recipe of the personalization models of lesson 13 (D31-Q11, D35-Q4): teach the
shipped tiny Stable Diffusion one subject (``data.subjects``: a green circle with a wedge
cut out, which no caption can name) from its 4 example images.

Three ways, each its own recipe (``python -m diffusionlab train NAME``):

    dreambooth          the whole U-Net fine-tuned on "a large something circle in the
                        center" (and the other 3 views), with the prior-preservation loss
                        on class images the frozen model generated itself (Ruiz et al.
                        2023, eq. 2); the text encoder stays frozen
    dreambooth_noprior  the same without the prior loss (lambda = 0)
    dreambooth_lora     DreamBooth with the prior loss, but only a LoRA adapter on the
                        U-Net trains (``nn.lora``), as most users run DreamBooth
    textual_inversion   a new token ``<sks>`` added to the tokenizer and the text encoder's
                        embedding table; only that one row trains, everything else frozen
                        (Gal et al. 2022)

The identifier. SD's DreamBooth uses "sks", an existing token that is rare in its training
captions, so its embedding carries a weak prior (Ruiz et al. section 4.1: rare tokens, not
random letters, which the tokenizer splits into common ones). The tiny tokenizer's
vocabulary is the shapes world's word list, and a few of its words never occur in any
caption the text encoder or the U-Net was trained on ("something", "object", "of",
"on", ...: ``rare_words``). "something" is used, so the identifier is an existing token
with no learned meaning, as "sks" is in SD, and the text encoder is not touched. Textual
inversion, in contrast, must add a new token (its whole point is a new row).

Class images (the prior): ``N_CLASS`` images the *frozen* model draws for class prompts,
generated once before fine-tuning. The class prompt is the instance prompt without the
identifier (Ruiz et al.: "a [class noun]"); because the instance prompts name a size and a
position, the class prompts do too: a quarter are the bare "a circle", the rest
"a {size} circle {position}" at every view.

Scores (``personalization_scores``), all with the same noise and 20 DDIM steps at the
default guidance scale:
    fidelity          subject detector (``metrics.subject``) on the 4 trained views' prompts
    color_match, notch   on the same images: the object is green; mean notch depth (1 - the
                      wedge's fill; 0 for a whole disc, 1 for
                      the subject): the parts of the subject, for methods that learn only some
    recontext         on the 14 views never shown (all small ones, 5 large positions): the
                      subject drawn AND the evaluator reads the asked size and position
    recontext_subject the subject drawn at all, on those novel views
    class_accuracy    "a circle": the evaluator reads a circle (language drift: does the
                      class word still mean the class?)
    class_leak        "a circle": the detector fires (the subject leaks into its class)
    class_view_accuracy, class_view_leak   the same for the class prompts at the 4 trained
                      views ("a large circle in the center"), where drift is worst
    prompt_accuracy   fresh mixed prompts of the whole shapes world (other concepts kept?)
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..data.shapes import make_shapes
from ..data.subjects import (ALL_VIEWS, INSTANCE_VIEWS, NOVEL_VIEWS, SUBJECT_CLASS,
                             SUBJECT_COLOR, instance_images, random_views, subject_caption)

IDENTIFIER = "something"          # DreamBooth's rare token ("sks" in SD): see module doc
PLACEHOLDER = "<sks>"             # textual inversion's new token (S* in Gal et al.)
INIT_WORD = SUBJECT_CLASS         # the new row starts as "circle"'s row
N_CLASS = 200
CLASS_SEED = 5150
EVAL_SEED = 777
PER_VIEW = 4                      # images per view prompt when scoring
N_CLASS_EVAL = 64
N_OTHER_EVAL = 64


def rare_words(n_captions: int = 20_000, seed: int = 0) -> list[str]:
    """Vocabulary words that occur in no caption of ``n_captions`` mixed shapes scenes: tokens
    whose embedding no training step ever used (candidates for DreamBooth's identifier)."""
    from ..data.shapes import CAPTION_WORDS

    used = {w for c in make_shapes(n_captions, seed=seed, caption_style="mixed").captions
            for w in c.split()}
    return [w for w in CAPTION_WORDS if w not in used]


def instance_prompts(token: str = IDENTIFIER, replace_noun: bool = False,
                     views=INSTANCE_VIEWS) -> list[str]:
    """"a large something circle in the center" (DreamBooth) or, with ``replace_noun``,
    "a large <sks> in the center" (textual inversion), one per view."""
    if replace_noun:
        return [subject_caption(v, noun=token) for v in views]
    return [subject_caption(v, token) for v in views]


def class_prompts(n: int = N_CLASS, seed: int = CLASS_SEED) -> list[str]:
    """A quarter "a circle", the rest "a {size} circle {position}" at random views."""
    views = random_views(n, seed=seed)
    return [f"a {SUBJECT_CLASS}" if i % 4 == 0 else subject_caption(v)
            for i, v in enumerate(views)]


@torch.no_grad()
def class_latents(pipe, n: int = N_CLASS, seed: int = CLASS_SEED) -> dict:
    """The prior: latents the frozen pipeline generates for ``class_prompts`` (before any
    fine-tuning), with the prompts' token states."""
    prompts = class_prompts(n, seed)
    latents = pipe(prompts, seed=seed, progress=False, return_latents=True).latents
    return {"latents": latents, "states": pipe.encode_prompt(prompts), "prompts": prompts}


@torch.no_grad()
def instance_data(pipe, prompts: list[str] | None = None) -> dict:
    """The subject's 4 images as latents, with their prompts' token states."""
    batch = instance_images()
    prompts = instance_prompts() if prompts is None else prompts
    return {"latents": pipe.encode_images(batch.images), "images": batch.images,
            "prompts": prompts, "states": pipe.encode_prompt(prompts)}


def pipe_with_unet(pipe, unet):
    """A ``TextToImage`` sharing ``pipe``'s VAE, text encoder and sampler around ``unet``."""
    from ..pipelines import TextToImage

    return TextToImage(unet, pipe.vae, pipe.clip, pipe.schedule, pipe.prediction_type,
                       pipe.timestep_spacing, pipe.steps_offset)


# ----------------------------------------------------------------------------- measures
@torch.no_grad()
def views_images(pipe, prompt_for_view, views, per_view: int = PER_VIEW,
                 seed: int = EVAL_SEED) -> torch.Tensor:
    prompts = [prompt_for_view(v) for v in views for _ in range(per_view)]
    return pipe(prompts, seed=seed, progress=False).images


@torch.no_grad()
def personalization_scores(pipe, prompt_for_view, evaluator=None, per_view: int = PER_VIEW,
                           n_class: int = N_CLASS_EVAL, n_other: int = N_OTHER_EVAL,
                           class_views: bool = True, seed: int = EVAL_SEED) -> dict:
    """The scores of the module docstring. ``prompt_for_view(view) -> str`` writes the
    subject's prompt for a view (the method's token in it). ``n_other`` = 0 and
    ``class_views`` = False skip those scores (a quicker look, as in the lesson)."""
    from ..metrics.evaluator import ShapesEvaluator
    from ..metrics.images import dominant_color
    from ..metrics.subject import is_subject, notch_depth

    ev = ShapesEvaluator.pretrained() if evaluator is None else evaluator
    out = {}
    seen = views_images(pipe, prompt_for_view, INSTANCE_VIEWS, per_view, seed)
    out["fidelity"] = float(is_subject(seen).float().mean())
    out["color_match"] = sum(c == SUBJECT_COLOR for c in dominant_color(seen)) / seen.shape[0]
    out["notch"] = float(notch_depth(seen).mean())
    novel = views_images(pipe, prompt_for_view, NOVEL_VIEWS, per_view, seed)
    hit = is_subject(novel)
    wanted = [v for v in NOVEL_VIEWS for _ in range(per_view)]
    read = ev.predict(novel)
    placed = torch.tensor([p["size"] == w["size"] and p["position"] == w["position"]
                           for p, w in zip(read, wanted)])
    out["recontext"] = float((hit & placed).float().mean())
    out["recontext_subject"] = float(hit.float().mean())
    circles = pipe([f"a {SUBJECT_CLASS}"] * n_class, seed=seed, progress=False).images
    out["class_accuracy"] = ev.prompt_accuracy(circles, f"a {SUBJECT_CLASS}")
    out["class_leak"] = float(is_subject(circles).float().mean())
    if class_views:
        at_views = views_images(pipe, subject_caption, INSTANCE_VIEWS, per_view, seed)
        out["class_view_accuracy"] = ev.prompt_accuracy(
            at_views, [subject_caption(v) for v in INSTANCE_VIEWS for _ in range(per_view)])
        out["class_view_leak"] = float(is_subject(at_views).float().mean())
    if n_other:
        others = make_shapes(n_other, seed=seed, caption_style="mixed").captions
        out["prompt_accuracy"] = ev.prompt_accuracy(
            pipe(others, seed=seed, progress=False).images, others)
    return {k: round(v, 4) for k, v in out.items()}


def dreambooth_prompt(view) -> str:
    return subject_caption(view, IDENTIFIER)


def inversion_prompt(view) -> str:
    return subject_caption(view, noun=PLACEHOLDER)


def file_bytes(directory) -> int:
    """Size of the weights file a method ships (``model.safetensors``)."""
    return (Path(directory) / "model.safetensors").stat().st_size


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


__all__ = ["ALL_VIEWS", "IDENTIFIER", "PLACEHOLDER", "class_latents", "class_prompts",
           "dreambooth_prompt", "instance_data", "instance_prompts", "inversion_prompt",
           "personalization_scores", "pipe_with_unet", "rare_words"]
