"""Three diffusers classes with one extra setting each: what the course's networks need and
stock diffusers cannot express.

Every weight of the course's U-Net, VAE and ControlNet has a place, under the same shape,
in diffusers' ``UNet2DConditionModel``, ``AutoencoderKL`` and ``ControlNetModel``
(``diffusionlab.export.mapping`` moves them). Two settings do not:

* **Group norm groups** (U-Net, ControlNet). The course's ResBlocks normalise in 8 groups
  (``nn.blocks.group_norm``, ``min_group_size=4``) and its attention blocks in up to 32
  (SD's ``Transformer2DModel`` setting). diffusers takes one ``norm_num_groups`` for the
  whole U-Net and hands it to every ``Transformer2DModel``; a GroupNorm's statistics are
  not a function of its weights, so no weight mapping can make 8 groups act as 32.
  ``attention_norm_num_groups`` sets the groups of every ``Transformer2DModel.norm``.
* **Downsampling padding** (VAE encoder). The course's encoder halves with a stride-2 3x3
  convolution padded by 1 on every side (output pixel i reads input pixels 2i-1..2i+1);
  diffusers' ``Encoder`` builds its ``Downsample2D`` with ``padding=0``, which pads one
  pixel on the right and bottom only (output pixel i reads 2i..2i+2): the grid shifts by
  one input pixel, which no 3x3 kernel can undo. ``encoder_downsample_padding=1`` restores
  the symmetric padding (``Downsample2D`` supports it; the U-Net's downsamplers use it).

Both are options of the course's classes too (``UNet(attention_norm="resnet")``,
``VAE(downsample_padding=0)``); a model built that way exports as the stock classes and
needs nothing from this module. The shipped models are built that way; this module is for a
model trained with ``--structure course`` (``python -m diffusionlab train vae|text2img``),
the structure the course first shipped, whose export must name these classes.

Each class *is* the diffusers class (``isinstance`` holds, ``from_pretrained``,
``save_pretrained``, other schedulers, LoRA loading all work); with the setting left at
``None`` / 0 it builds exactly the stock model. diffusers loads a folder that names these
classes once this module is imported (``import diffusionlab.export.compat``): diffusers
never imports a module just because a ``model_index.json`` names it.
"""
from __future__ import annotations

import inspect

# ModelMixin is unused here but must be in this module: diffusers looks up a component's
# loader (``ModelMixin.from_pretrained``) in the module that model_index.json names.
from diffusers import AutoencoderKL, ControlNetModel, ModelMixin, UNet2DConditionModel  # noqa: F401
from torch import nn


def _signature_with(init, name: str, default) -> inspect.Signature:
    """``init``'s signature plus one keyword-only argument: diffusers reads a class's config
    keys from its ``__init__`` signature (``ConfigMixin._get_init_keys``)."""
    sig = inspect.signature(init)
    extra = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
    return sig.replace(parameters=[*sig.parameters.values(), extra])


def regroup_attention_norms(model: nn.Module, num_groups: int) -> None:
    """Rebuild the GroupNorm of every ``Transformer2DModel`` in ``model`` with ``num_groups``
    groups (same channels, eps and affine weights' shapes)."""
    from diffusers.models.transformers.transformer_2d import Transformer2DModel

    for module in model.modules():
        if isinstance(module, Transformer2DModel) and isinstance(module.norm, nn.GroupNorm):
            old = module.norm
            if old.num_channels % num_groups:
                raise ValueError(f"attention_norm_num_groups ({num_groups}) must divide every "
                                 f"attention block's channels, got a block of {old.num_channels}")
            module.norm = nn.GroupNorm(num_groups, old.num_channels, eps=old.eps, affine=old.affine)


class CourseUNet2DConditionModel(UNet2DConditionModel):
    """``UNet2DConditionModel`` whose attention blocks may normalise in their own number of
    groups (``attention_norm_num_groups``; None: ``norm_num_groups``, as stock diffusers)."""

    def __init__(self, *args, attention_norm_num_groups: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_to_config(attention_norm_num_groups=attention_norm_num_groups)
        if attention_norm_num_groups is not None:
            regroup_attention_norms(self, attention_norm_num_groups)

    __init__.__signature__ = _signature_with(UNet2DConditionModel.__init__,
                                             "attention_norm_num_groups", None)


class CourseControlNetModel(ControlNetModel):
    """``ControlNetModel`` with ``attention_norm_num_groups`` (see
    ``CourseUNet2DConditionModel``)."""

    def __init__(self, *args, attention_norm_num_groups: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_to_config(attention_norm_num_groups=attention_norm_num_groups)
        if attention_norm_num_groups is not None:
            regroup_attention_norms(self, attention_norm_num_groups)

    __init__.__signature__ = _signature_with(ControlNetModel.__init__,
                                             "attention_norm_num_groups", None)


class CourseAutoencoderKL(AutoencoderKL):
    """``AutoencoderKL`` whose encoder downsamplers may pad symmetrically
    (``encoder_downsample_padding=1``; 0: diffusers' right/bottom padding)."""

    def __init__(self, *args, encoder_downsample_padding: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_to_config(encoder_downsample_padding=encoder_downsample_padding)
        if encoder_downsample_padding not in (0, 1):
            raise ValueError(f"encoder_downsample_padding must be 0 (diffusers: pad right and "
                             f"bottom) or 1 (pad every side), got {encoder_downsample_padding}")
        for block in self.encoder.down_blocks:
            for down in block.downsamplers or []:
                down.padding = encoder_downsample_padding        # Downsample2D.forward reads it
                down.conv.padding = (encoder_downsample_padding,) * 2

    __init__.__signature__ = _signature_with(AutoencoderKL.__init__,
                                             "encoder_downsample_padding", 0)
