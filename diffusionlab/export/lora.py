"""A course LoRA adapter as a diffusers LoRA file: ``pipe.load_lora_weights(DIR)`` loads it.

    python -m diffusionlab export lora_outlined --format diffusers --out DIR

writes ``DIR/pytorch_lora_weights.safetensors`` (diffusers' default file name) for the exported
tiny SD (``export text2img``). The course saves an adapter under its own module names,

    down_blocks.0.attentions.0.blocks.0.attn1.to_out.lora_A.weight        (nn.lora.save_lora)

and diffusers' peft-style LoRA format names the same matrices after diffusers' modules, with the
pipeline part in front:

    unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0.lora_A.weight

(``export.mapping.unet_key`` renames the module, as for the base weights). The matrices keep
their shapes: a linear layer's A is (r, d_in) and B (d_out, r); a convolution's A is a conv
with the base kernel and B a 1x1 conv (peft's factorisation, which ``nn.lora.LoRAConv2d``
uses too). One number does not travel in these files: the factor alpha / r (Hu et al. 2021,
eq. 3 with section 4.1's scaling). diffusers reads alpha = r when a file names none, so the
factor is folded into B here, B' = (alpha / r) B, which leaves the update (alpha / r) B A,
and so every output, unchanged. The adapter's strength stays a knob at run time
(``pipe.set_adapters(name, weight)``, or ``cross_attention_kwargs={"scale": s}``).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

WEIGHT_NAME = "pytorch_lora_weights.safetensors"      # what load_lora_weights looks for


def lora_names() -> tuple[str, ...]:
    """The shipped adapters (top-level folders of ``weights/`` that hold a LoRA)."""
    from ..checkpoints import WEIGHTS_DIR
    from ..nn.lora import CONFIG_CLASS, CONFIG_FILE

    names = []
    for folder in sorted(WEIGHTS_DIR.iterdir()):
        config = folder / CONFIG_FILE
        if config.is_file() and json.loads(config.read_text()).get("class") == CONFIG_CLASS:
            names.append(folder.name)
    return tuple(names)


def diffusers_lora_state_dict(directory) -> dict[str, torch.Tensor]:
    """The adapter saved in ``directory`` under diffusers' names, alpha / r folded into B."""
    from safetensors.torch import load_file

    from ..nn.lora import ADAPTER_FILE, read_lora_config
    from .mapping import unet_key

    config = read_lora_config(directory)
    factor = config["alpha"] / config["rank"]
    state = load_file(str(Path(directory) / ADAPTER_FILE))
    out = {}
    for module in config["modules"]:
        name = "unet." + unet_key(f"{module}.weight").removesuffix(".weight")
        out[f"{name}.lora_A.weight"] = state[f"{module}.lora_A.weight"].contiguous()
        out[f"{name}.lora_B.weight"] = (factor * state[f"{module}.lora_B.weight"]).contiguous()
    return out


def export_lora(directory, out) -> Path:
    """Write the adapter in ``directory`` to ``out/pytorch_lora_weights.safetensors``."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file(diffusers_lora_state_dict(directory), str(out / WEIGHT_NAME),
              metadata={"format": "pt"})
    return out


@torch.no_grad()
def check_lora(directory, name: str, prompts=("object a large red circle in the center",
                                               "a small blue square at the top left"),
               seed: int = 0, steps: int = 20, guidance_scale: float = 3.0) -> float:
    """Largest |pixel difference| in [0, 1] units between the course's ``TextToImage`` with
    the shipped adapter ``name`` loaded and diffusers' ``StableDiffusionPipeline`` (the same
    tiny SD, built in memory) after ``load_lora_weights(directory)``, for the same prompts
    and initial latents. An adapter diffusers failed to load shows as a large gap, since the
    course's side has it (``tests/test_export.py`` also checks that an adapter moves the
    output)."""
    from ..pipelines import TextToImage
    from . import diffusers_pipeline, pixel_gap

    ours = TextToImage.pretrained()
    theirs = diffusers_pipeline(ours)          # before the course's adapter goes in
    theirs.set_progress_bar_config(disable=True)
    theirs.load_lora_weights(str(directory), weight_name=WEIGHT_NAME, adapter_name=name)
    ours.load_lora(name)
    prompts = list(prompts)
    latents = torch.randn((len(prompts), 4, 8, 8), generator=torch.Generator().manual_seed(seed))
    return pixel_gap(ours, theirs, prompts, latents, steps, guidance_scale)
