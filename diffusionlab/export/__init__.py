"""Graduating to diffusers: the course's tiny Stable Diffusion as a diffusers model folder.

    python -m diffusionlab export text2img --format diffusers --out DIR
    python -m diffusionlab export controlnet_edges --format diffusers --out DIR

``text2img`` writes what ``StableDiffusionPipeline.from_pretrained(DIR)`` reads:

    DIR/model_index.json            which class each part is
    DIR/unet/                       diffusers UNet2DConditionModel  (the course's UNet)
    DIR/vae/                        diffusers AutoencoderKL         (the course's VAE)
    DIR/text_encoder/               transformers CLIPTextModel   (TinyCLIP's text half)
    DIR/tokenizer/                  transformers PreTrainedTokenizerFast (word level)
    DIR/scheduler/                  DDIMScheduler                (weights/text2img/scheduler_config.json)

A ``controlnet_*`` name writes a ``ControlNetModel`` folder for
``StableDiffusionControlNetPipeline``. Every weight is copied, none retrained
(``export.mapping`` says which key goes where). The shipped models are built in diffusers'
structure (``UNet(attention_norm="resnet")``, ``VAE(downsample_padding=0)``), so they export
as the stock classes and load with no import of the course (``tests/test_export.py``). A
model trained with ``--structure course`` (attention norms in up to 32 groups, symmetric
downsampling padding) exports as the ``Course*`` classes of ``export.compat`` instead, which
say why those two settings need a class of their own. Loading the export, offline::

    from diffusers import StableDiffusionPipeline
    pipe = StableDiffusionPipeline.from_pretrained(DIR, local_files_only=True)
    image = pipe("a red circle", height=32, width=32, guidance_scale=3.0).images[0]

It draws what ``TextToImage`` draws for the same prompt, initial latents, scheduler and
steps (``tests/test_export.py``; ``check_text2img`` measures it). Two conventions differ:
diffusers returns images in [0, 1] (the course: [-1, 1]), and its text encoder is told to
mask the padding (``use_attention_mask``), as ``TinyCLIP.token_states`` does.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import torch

FORMATS = ("diffusers",)
IMAGE_SIZE = 32          # what the tiny SD was trained at: diffusers' default height and width


def _quiet():
    """Silence diffusers' and transformers' info logs and progress bars while loading."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    dlog.set_verbosity_error()
    dlog.disable_progress_bar()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()


def text_encoder(clip):
    """TinyCLIP's text half as a ``transformers.CLIPTextModel`` that masks padding tokens
    (``use_attention_mask``: diffusers' pipelines pass the tokenizer's mask only then)."""
    from transformers import CLIPTextModel

    config = copy.deepcopy(clip.model.config.text_config)
    config.use_attention_mask = True
    config.architectures = ["CLIPTextModel"]
    model = CLIPTextModel(config)
    model.load_state_dict(clip.model.text_model.state_dict())
    return model.eval()


def _load(model, state: dict, name: str):
    """Load ``state`` strictly; a missing or extra key is a bug in ``export.mapping``."""
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise RuntimeError(f"{name}: the mapping left keys out: missing "
                           f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}")
    return model.eval()


def _stock_or_course(config: dict, extra: str, stock_value, stock, course):
    """``stock(**config)`` when the setting ``extra`` is what stock diffusers builds anyway
    (the model needs no ``export.compat`` class), else ``course(**config)``."""
    if config[extra] == stock_value:
        return stock(**{k: v for k, v in config.items() if k != extra})
    return course(**config)


def diffusers_unet(unet, sample_size: int | None = None):
    """A course ``UNet`` as a diffusers ``UNet2DConditionModel`` with the same weights: the
    stock class for ``attention_norm="resnet"`` (the shipped U-Nets), else
    ``CourseUNet2DConditionModel`` (``export.compat``). ``sample_size``: the latents' side a pipeline makes
    by default."""
    from diffusers import UNet2DConditionModel

    from .compat import CourseUNet2DConditionModel
    from .mapping import unet_config, unet_state_dict

    c = unet_config(unet, sample_size)       # stock: attention norms take norm_num_groups
    model = _stock_or_course(c, "attention_norm_num_groups", c["norm_num_groups"],
                             UNet2DConditionModel, CourseUNet2DConditionModel)
    return _load(model, unet_state_dict(unet), "unet")


def diffusers_vae(vae):
    """A course ``VAE`` as a diffusers ``AutoencoderKL`` with the same weights: the stock
    class for ``downsample_padding=0`` (the shipped VAE), else ``CourseAutoencoderKL``."""
    from diffusers import AutoencoderKL

    from .compat import CourseAutoencoderKL
    from .mapping import vae_config, vae_state_dict

    model = _stock_or_course(vae_config(vae), "encoder_downsample_padding", 0, AutoencoderKL,
                             CourseAutoencoderKL)
    return _load(model, vae_state_dict(vae), "vae")


def diffusers_controlnet(controlnet):
    """A course ``ControlNet`` as a diffusers ``ControlNetModel`` with the same weights
    (stock or ``CourseControlNetModel``, as ``diffusers_unet``)."""
    from diffusers import ControlNetModel

    from .compat import CourseControlNetModel
    from .mapping import controlnet_config, unet_state_dict

    c = controlnet_config(controlnet)
    model = _stock_or_course(c, "attention_norm_num_groups", c["norm_num_groups"],
                             ControlNetModel, CourseControlNetModel)
    return _load(model, unet_state_dict(controlnet), "controlnet")


def diffusers_pipeline(pipe=None):
    """A ``diffusers.StableDiffusionPipeline`` built in memory from a course ``TextToImage``
    (default: the shipped tiny SD)."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from ..pipelines import TextToImage
    from .mapping import ddim_scheduler_config

    _quiet()
    pipe = TextToImage.pretrained() if pipe is None else pipe
    return StableDiffusionPipeline(
        vae=diffusers_vae(pipe.vae), text_encoder=text_encoder(pipe.clip),
        tokenizer=pipe.clip.tokenizer,
        unet=diffusers_unet(pipe.unet, sample_size=IMAGE_SIZE // pipe.vae.downscale),
        scheduler=DDIMScheduler(**ddim_scheduler_config(pipe.scheduler_config)),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def export(name: str, out, format: str = "diffusers") -> Path:
    """Write the shipped model ``name`` ("text2img", "controlnet_<kind>" or a LoRA adapter,
    ``export.lora.lora_names()``) to ``out`` as a diffusers folder; returns ``out``."""
    from .._checks import check_choice
    from ..pipelines.controlnet import SHIPPED
    from .lora import lora_names

    adapters = lora_names()
    names = ("text2img",) + tuple(f"controlnet_{k}" for k in SHIPPED) + adapters
    check_choice("name", name, names)
    check_choice("format", format, FORMATS)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"out ({out}) exists and is not empty; name a new folder")
    if name in adapters:
        from ..checkpoints import weights_path
        from .lora import export_lora

        export_lora(weights_path(name), out)
        _write_provenance(out, name, format, "pipe.load_lora_weights(DIR) on the exported "
                          "text2img (stock diffusers LoRA format, alpha / r folded into B)")
        return out
    from . import compat

    if name == "text2img":
        model = diffusers_pipeline()
        parts = [model.unet, model.vae]
    else:
        from ..checkpoints import load_checkpoint, weights_path
        from ..nn.controlnet import ControlNet

        _quiet()
        model = diffusers_controlnet(load_checkpoint(ControlNet, weights_path(name)))
        parts = [model]
    model.save_pretrained(out, safe_serialization=True)
    load = ("import diffusionlab.export.compat before from_pretrained (Course* classes)"
            if any(type(p).__module__ == compat.__name__ for p in parts)
            else "stock diffusers classes: from_pretrained as is")
    _write_provenance(out, name, format, load)
    return out


def _write_provenance(out: Path, name: str, format: str, load: str) -> None:
    (out / "EXPORTED_FROM_DIFFUSIONLAB.json").write_text(json.dumps({
        "model": name, "command": f"python -m diffusionlab export {name} --format {format}",
        "load": load}, indent=2) + "\n")


@torch.no_grad()
def pixel_gap(ours, theirs, prompts, latents, steps: int, guidance_scale: float, **extra) -> float:
    """Largest |pixel difference| in [0, 1] units between a course pipeline ``ours`` (images in
    [-1, 1]) and a diffusers pipeline ``theirs`` (in [0, 1]) run on the same prompts, initial
    latents, steps and guidance; ``extra`` goes to both (e.g. a ControlNet's ``image``)."""
    kw = dict(latents=latents, num_inference_steps=steps, guidance_scale=guidance_scale, **extra)
    a = ours(list(prompts), progress=False, **kw).images
    b = theirs(list(prompts), height=32, width=32, output_type="pt", **kw).images
    return float(((a + 1) / 2 - b).abs().max())


@torch.no_grad()
def check_text2img(directory, prompts=("a small red circle at the top left",
                                       "a large blue square"),
                   seed: int = 0, steps: int = 20, guidance_scale: float = 3.0) -> float:
    """Largest |pixel difference| in [0, 1] units between the course's ``TextToImage`` and
    diffusers' ``StableDiffusionPipeline`` loaded from ``directory``, both started from the
    same latents (drawn by the course's pipeline for ``seed``)."""
    from diffusers import StableDiffusionPipeline

    from ..pipelines import TextToImage
    from . import compat  # noqa: F401  (registers the Course* classes)

    _quiet()
    ours = TextToImage.pretrained()
    theirs = StableDiffusionPipeline.from_pretrained(directory, local_files_only=True)
    theirs.set_progress_bar_config(disable=True)
    prompts = list(prompts)
    shape = (len(prompts), ours.vae.latent_channels, 32 // ours.vae.downscale,
             32 // ours.vae.downscale)
    latents = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    return pixel_gap(ours, theirs, prompts, latents, steps, guidance_scale)


def diffusers_controlnet_pipeline(controlnet, pipe=None):
    """A ``diffusers.StableDiffusionControlNetPipeline``: the tiny SD of ``pipe`` (default:
    shipped) with ``controlnet`` (a course ``ControlNet`` or a diffusers ``ControlNetModel``)."""
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    base = diffusers_pipeline(pipe)
    if not isinstance(controlnet, ControlNetModel):
        controlnet = diffusers_controlnet(controlnet)
    return StableDiffusionControlNetPipeline(**base.components, controlnet=controlnet)


@torch.no_grad()
def check_controlnet(directory, kind: str = "edges", seed: int = 0, steps: int = 20,
                     guidance_scale: float = 3.0) -> float:
    """Largest |pixel difference| in [0, 1] units between the course's ``ControlNetPipeline``
    and diffusers' ``StableDiffusionControlNetPipeline`` with the ``ControlNetModel`` loaded
    from ``directory``, for two prompts with their edge maps and the same initial latents."""
    from diffusers import ControlNetModel

    from ..data.shapes import make_shapes
    from ..pipelines.controlnet import ControlNetPipeline
    from .compat import CourseControlNetModel

    _quiet()
    ours = ControlNetPipeline.pretrained(kind)
    named = json.loads((Path(directory) / "config.json").read_text())["_class_name"]
    cls = CourseControlNetModel if named == CourseControlNetModel.__name__ else ControlNetModel
    theirs = diffusers_controlnet_pipeline(
        cls.from_pretrained(directory, local_files_only=True), ours)
    assert isinstance(theirs.controlnet, ControlNetModel)
    theirs.set_progress_bar_config(disable=True)
    scenes = make_shapes(2, seed=seed)
    maps = scenes.edges if kind == "edges" else scenes.masks
    latents = torch.randn((2, 4, 8, 8), generator=torch.Generator().manual_seed(seed))
    return pixel_gap(ours, theirs, scenes.captions, latents, steps, guidance_scale, image=maps)
