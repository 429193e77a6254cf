"""A style the shipped tiny Stable Diffusion cannot draw: *outlined* (hollow) shapes, for LoRA
(lesson 12).

The shapes world (``shapes.py``) only has filled shapes, so the shipped text-to-image model
has never seen a hollow one. ``outlined`` keeps a shape's outer band of ``RING_WIDTH`` pixels
(the mask minus its ``RING_WIDTH``-fold 3x3 erosion) and paints the inside black, the way a
"line-art" style LoRA redraws Stable Diffusion's subjects.

Why this style and not stripes or a white border: the VAE stays frozen in LoRA training (as
in SD), so a style must be something its decoder can draw. Measured with the shipped VAE
(``probe_vae`` in the lesson): hollow shapes come back recognisably, while 1-pixel stripes
and white borders are blurred away.

The trigger. The tiny text encoder has a fixed word-level vocabulary
(``shapes.CAPTION_WORDS``): there is no word "outlined", and adding one is textual inversion
(lesson 13). So the style is triggered by ``TRIGGER``, a word the tokenizer knows but that no
training caption ever used ("object"), prepended to a normal caption: "object a small red
circle at the top left". Its embedding row is as good as untrained, like the rare token
"sks" of DreamBooth and the trigger words kohya users pick. Prompts without the trigger should
keep drawing filled shapes: that is what "the base model's skills are kept" means here.
"""
from __future__ import annotations

import torch

from .._checks import check_int
from .shapes import ShapesBatch, _erode, make_shapes, render

TRIGGER = "object"
RING_WIDTH = 2           # pixels of the outline band kept (at 32x32)
BACKGROUND = -1.0


def outline_masks(masks: torch.Tensor, ring_width: int = RING_WIDTH) -> torch.Tensor:
    """The outer band of each mask: mask minus its ``ring_width``-fold 3x3 erosion.
    (n, 1, S, S) in {0, 1} -> same shape."""
    ring_width = check_int("ring_width", ring_width, minimum=1)
    inner = masks
    for _ in range(ring_width):
        inner = _erode(inner)
    return masks - inner


def outlined(batch: ShapesBatch, ring_width: int = RING_WIDTH) -> ShapesBatch:
    """The same scenes drawn in the outlined style: only the outer band keeps its colour, the
    inside is background. Captions, attributes and labels are unchanged; ``masks`` and
    ``edges`` become those of the band."""
    if not isinstance(batch, ShapesBatch):
        raise TypeError(f"batch must be a ShapesBatch (from make_shapes or render), "
                        f"got {type(batch).__name__}")
    band = outline_masks(batch.masks, ring_width)
    images = torch.where(band.bool(), batch.images, torch.tensor(BACKGROUND))
    return ShapesBatch(images=images, captions=list(batch.captions), masks=band,
                       edges=band - _erode(band), attributes=batch.attributes,
                       labels=batch.labels)


def with_trigger(captions, trigger: str = TRIGGER) -> list[str]:
    """Prepend the trigger word: "a red circle" -> "object a red circle"."""
    if isinstance(captions, str):
        captions = [captions]
    return [f"{trigger} {c}".strip() for c in captions]


def make_style_data(n: int, seed: int = 0, styled_fraction: float = 0.5,
                    caption_style: str = "mixed",
                    styled_size: str | None = "large") -> tuple[ShapesBatch, torch.Tensor]:
    """LoRA training data: ``n`` scenes, a ``styled_fraction`` of them outlined and captioned
    with the trigger and a full caption, the rest plain with ``caption_style`` captions (the
    plain part is what keeps prompts without the trigger drawing filled shapes; kohya calls
    such images regularization images). ``styled_size`` forces the size of the styled scenes
    ("large": the VAE cannot draw the hole of a small shape, so small outlined scenes would
    teach "object" + "small" = filled); None keeps random sizes.

    Returns (batch, styled) where ``styled`` (n,) bool marks the outlined scenes (first).
    """
    n = check_int("n", n, minimum=1)
    if not 0.0 <= styled_fraction <= 1.0:
        raise ValueError(f"styled_fraction must be in [0, 1], got {styled_fraction}")
    n_styled = int(round(n * styled_fraction))
    parts, flags = [], []
    if n_styled:
        scenes = make_shapes(n_styled, seed=seed).attributes
        if styled_size is not None:
            scenes = [{**a, "size": styled_size} for a in scenes]
        style = outlined(render(scenes, seed=seed))
        style.captions = with_trigger(style.captions)
        parts.append(style)
        flags.append(torch.ones(n_styled, dtype=torch.bool))
    if n - n_styled:
        parts.append(make_shapes(n - n_styled, seed=seed + 1, caption_style=caption_style))
        flags.append(torch.zeros(n - n_styled, dtype=torch.bool))
    batch = ShapesBatch(
        images=torch.cat([b.images for b in parts]), captions=sum((b.captions for b in parts), []),
        masks=torch.cat([b.masks for b in parts]), edges=torch.cat([b.edges for b in parts]),
        attributes=sum((list(b.attributes) for b in parts), []),
        labels={k: torch.cat([b.labels[k] for b in parts]) for k in parts[0].labels})
    return batch, torch.cat(flags)
