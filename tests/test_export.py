"""The tiny Stable Diffusion exported to diffusers draws what the course draws.

Network by network (fast): every weight maps and the outputs agree to float precision;
the two settings the shipped models took to fit stock diffusers (``attention_norm="resnet"``,
``downsample_padding=0``) are shown to matter: the course's first structure (``export.compat``)
gives other outputs from the same weights. End to end
(``python -m diffusionlab export``): ``StableDiffusionPipeline.from_pretrained`` on the
written folder, offline, gives the course's images for the same prompts and latents.
"""
import pytest
import torch

pytest.importorskip("diffusers")

from diffusionlab.export import (
    check_controlnet,
    check_text2img,
    diffusers_controlnet,
    diffusers_unet,
    diffusers_vae,
)
from diffusionlab.export.compat import regroup_attention_norms


@pytest.fixture(scope="module")
def shipped():
    from diffusionlab.checkpoints import load_checkpoint, weights_path
    from diffusionlab.nn.controlnet import ControlNet
    from diffusionlab.nn.unet import UNet
    from diffusionlab.nn.vae import VAE

    return dict(unet=UNet.pretrained("text2img"), vae=VAE.pretrained(),
                controlnet=load_checkpoint(ControlNet, weights_path("controlnet_edges")))


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(3, 4, 8, 8, generator=g), torch.tensor([999, 500, 1]),
            torch.randn(3, 12, 64, generator=g))


@torch.no_grad()
def test_unet_maps_weight_for_weight(shipped):
    z, t, ctx = _inputs()
    ours = shipped["unet"](z, t, ctx)
    theirs = diffusers_unet(shipped["unet"])(z, t, encoder_hidden_states=ctx).sample
    assert (ours - theirs).abs().max() < 1e-5


@torch.no_grad()
def test_the_attention_norms_groups_matter(shipped):
    """The shipped U-Net exports as the stock class (one norm_num_groups, 8, for ResBlocks
    and attention). Its attention norms in 32 groups instead (the course's first structure,
    ``CourseUNet2DConditionModel``) move the prediction far past float error: no weight
    mapping can turn one grouping into the other, which is why the U-Net was retrained."""
    from diffusers import UNet2DConditionModel

    z, t, ctx = _inputs()
    ours = shipped["unet"](z, t, ctx)
    stock = diffusers_unet(shipped["unet"])
    assert type(stock) is UNet2DConditionModel
    saved = {k: v.clone() for k, v in stock.state_dict().items()}
    regroup_attention_norms(stock, 32)
    stock.load_state_dict(saved)
    assert (ours - stock(z, t, encoder_hidden_states=ctx).sample).abs().max() > 1e-2


@torch.no_grad()
def test_vae_maps_weight_for_weight(shipped):
    from diffusionlab.data.shapes import make_shapes

    from diffusers import AutoencoderKL

    x = make_shapes(4, seed=1).images
    vae, theirs = shipped["vae"], diffusers_vae(shipped["vae"])
    assert type(theirs) is AutoencoderKL
    z = vae.encode(x).mean
    assert (z - theirs.encode(x).latent_dist.mean).abs().max() < 1e-5
    assert (vae.decode(z) - theirs.decode(z).sample).abs().max() < 1e-5
    assert theirs.config.scaling_factor == vae.scaling_factor
    for block in theirs.encoder.down_blocks:       # the course's first, symmetric padding
        for down in block.downsamplers or []:
            down.padding, down.conv.padding = 1, (1, 1)
    assert (z - theirs.encode(x).latent_dist.mean).abs().max() > 1e-1


@torch.no_grad()
def test_controlnet_maps_weight_for_weight(shipped):
    from diffusionlab.data.shapes import make_shapes

    z, t, ctx = _inputs()
    cond = make_shapes(3, seed=2).edges
    down, mid = shipped["controlnet"](z, t, ctx, cond)
    d_down, d_mid = diffusers_controlnet(shipped["controlnet"])(
        z, t, ctx, controlnet_cond=cond, return_dict=False)
    assert len(down) == len(d_down)
    assert max(float((a - b).abs().max()) for a, b in zip(down, d_down)) < 1e-5
    assert (mid - d_mid).abs().max() < 1e-5


def test_unexportable_unet_says_why(tiny_sd_parts):
    _, _, unet = tiny_sd_parts()          # 8 and 16 channels: 2 and 4 groups in its ResBlocks
    with pytest.raises(ValueError, match="one number for all of them"):
        diffusers_unet(unet)


@torch.no_grad()
def test_stock_structure_exports_to_stock_classes_that_load_without_the_course(
        tmp_path, tiny_sd_parts):
    """A U-Net with ``attention_norm="resnet"`` and a VAE with ``downsample_padding=0`` (the
    structure a retrained tiny SD would take) export as diffusers' own classes: a Python
    that never imports diffusionlab loads the folder and draws the course's images."""
    import json
    import os
    import subprocess
    import sys

    from diffusionlab.export import diffusers_pipeline
    from diffusionlab.nn.unet import UNet
    from diffusionlab.nn.vae import VAE
    from diffusionlab.pipelines import TextToImage
    from diffusionlab.schedules import make_schedule

    clip, _, _ = tiny_sd_parts()
    torch.manual_seed(1)
    unet = UNet(in_channels=4, context_dim=16, base_channels=32, channel_mults=(1, 2),
                attention_levels=(True, True), num_heads=2, attention_norm="resnet").eval()
    vae = VAE(base_channels=8, downsample_padding=0).eval()
    ours = TextToImage(unet, vae, clip, make_schedule("scaled_linear"), "epsilon", "leading", 1)
    out = tmp_path / "stock"
    diffusers_pipeline(ours).save_pretrained(out, safe_serialization=True)
    index = json.loads((out / "model_index.json").read_text())
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert index["vae"] == ["diffusers", "AutoencoderKL"]

    prompts = ["a large red circle", "a small blue square at the top"]
    latents = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.save(latents, tmp_path / "latents.pt")
    a = ours(prompts, latents=latents, num_inference_steps=4, guidance_scale=3.0,
             progress=False).images
    script = (
        "import sys, torch\n"
        "from diffusers import StableDiffusionPipeline\n"
        "pipe = StableDiffusionPipeline.from_pretrained(sys.argv[1], local_files_only=True)\n"
        "pipe.set_progress_bar_config(disable=True)\n"
        f"images = pipe({prompts!r}, latents=torch.load(sys.argv[2]), num_inference_steps=4,"
        " height=32, width=32, guidance_scale=3.0, output_type='pt').images\n"
        "assert not [m for m in sys.modules if m.startswith('diffusionlab')]\n"
        "torch.save(images, sys.argv[3])\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH="")
    subprocess.run([sys.executable, "-c", script, str(out), str(tmp_path / "latents.pt"),
                    str(tmp_path / "theirs.pt")], check=True, cwd=tmp_path, env=env)
    b = torch.load(tmp_path / "theirs.pt")
    assert ((a + 1) / 2 - b).abs().max() < 1e-4


def test_structure_options_check_their_values():
    from diffusionlab.nn.unet import UNet
    from diffusionlab.nn.vae import VAE

    with pytest.raises(ValueError, match="attention_norm must be one of"):
        UNet(4, context_dim=8, attention_norm="diffusers")
    with pytest.raises(ValueError, match="downsample_padding must be 1"):
        VAE(downsample_padding=2)


def test_export_checks_its_arguments(tmp_path):
    from diffusionlab.export import export

    with pytest.raises(ValueError, match="name must be one of"):
        export("vae", tmp_path / "a")
    with pytest.raises(ValueError, match="format must be one of"):
        export("text2img", tmp_path / "b", format="onnx")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        export("text2img", tmp_path / "c")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """``python -m diffusionlab export text2img --format diffusers --out DIR`` (no check)."""
    from diffusionlab.__main__ import main

    out = tmp_path_factory.mktemp("export") / "tiny-sd"
    assert main(["export", "text2img", "--format", "diffusers", "--out", str(out),
                 "--no-check"]) == 0
    return out


def test_export_writes_a_diffusers_folder(exported):
    import json

    for part in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert (exported / part).is_dir(), part
    index = json.loads((exported / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert index["vae"] == ["diffusers", "AutoencoderKL"]
    assert index["text_encoder"] == ["transformers", "CLIPTextModel"]
    unet = json.loads((exported / "unet" / "config.json").read_text())
    assert unet["sample_size"] == 8            # diffusers' default image: 8 x 4 = 32 pixels
    assert unet["norm_num_groups"] == 8 and "attention_norm_num_groups" not in unet
    scheduler = json.loads((exported / "scheduler" / "scheduler_config.json").read_text())
    assert (scheduler["_class_name"], scheduler["timestep_spacing"], scheduler["steps_offset"]) \
        == ("DDIMScheduler", "leading", 1)


def test_exported_pipeline_draws_the_courses_images(exported):
    """The round trip: same prompts, same initial latents, DDIM steps, CFG 3."""
    assert check_text2img(exported, steps=4) < 1e-4


@pytest.mark.slow
def test_exported_pipeline_draws_the_courses_images_at_20_steps(exported):
    assert check_text2img(exported, steps=20) < 1e-4


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")   # numpy 2 vs diffusers' np.array
@torch.no_grad()
def test_exported_pipeline_runs_other_schedulers(exported):
    """diffusers' other schedulers run on the export (no equality: other samplers)."""
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(exported, local_files_only=True)
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    images = pipe(["a large red circle"], num_inference_steps=10, height=32, width=32,
                  guidance_scale=3.0, output_type="pt",
                  generator=torch.Generator().manual_seed(0)).images
    assert images.shape == (1, 3, 32, 32) and bool(torch.isfinite(images).all())


@pytest.mark.slow
def test_exported_controlnet_draws_the_courses_images(tmp_path):
    from diffusionlab.export import export

    import json

    out = export("controlnet_edges", tmp_path / "controlnet")
    assert json.loads((out / "config.json").read_text())["_class_name"] == "ControlNetModel"
    assert check_controlnet(out, "edges", steps=20) < 1e-4


@torch.no_grad()
def test_lora_file_loads_into_a_stock_unet_with_its_alpha_folded_in(tmp_path):
    """A course adapter with alpha != r (the shipped ones have alpha = r, so they cannot tell
    whether alpha / r survives): peft's loader in diffusers, given the exported file, gives
    the course's prediction. Without the folding the factor 8 / 2 would be lost."""
    from diffusers import UNet2DConditionModel
    from safetensors.torch import load_file

    from diffusionlab.export.lora import WEIGHT_NAME, export_lora
    from diffusionlab.nn.lora import ATTENTION_FF_CONV, inject_lora, lora_parameters, save_lora
    from diffusionlab.nn.unet import UNet

    torch.manual_seed(2)
    unet = UNet(in_channels=4, context_dim=64, base_channels=32, channel_mults=(1, 2),
                attention_levels=(True, True), num_heads=2, attention_norm="resnet").eval()
    theirs = diffusers_unet(unet)                    # the base, before the adapter goes in
    assert type(theirs) is UNet2DConditionModel
    inject_lora(unet, ATTENTION_FF_CONV, rank=2, alpha=8.0)
    for p in lora_parameters(unet):
        p.normal_(0, 0.1)                            # B starts at 0: give it something to say
    save_lora(unet, tmp_path / "adapter", base_model="tiny")
    out = export_lora(tmp_path / "adapter", tmp_path / "diffusers")
    state = load_file(str(out / WEIGHT_NAME))
    assert all(k.startswith("unet.") and k.endswith((".lora_A.weight", ".lora_B.weight"))
               for k in state)
    z, t, ctx = _inputs()
    base = theirs(z, t, encoder_hidden_states=ctx).sample
    theirs.load_lora_adapter(state, prefix="unet", adapter_name="course")
    assert (theirs(z, t, encoder_hidden_states=ctx).sample - base).abs().max() > 1e-2
    assert (unet(z, t, ctx) - theirs(z, t, encoder_hidden_states=ctx).sample).abs().max() < 1e-5


@pytest.mark.parametrize("name", ["lora_outlined", "dreambooth_lora"])
def test_shipped_lora_exports_for_load_lora_weights(tmp_path, name):
    """``export NAME`` writes a file diffusers' ``load_lora_weights`` takes whole (every
    adapted layer found) and that draws what the course's pipeline with the adapter draws."""
    import json

    from diffusionlab.export import export
    from diffusionlab.export.lora import check_lora

    out = export(name, tmp_path / name)
    assert json.loads((out / "EXPORTED_FROM_DIFFUSIONLAB.json").read_text())["model"] == name
    assert check_lora(out, name, steps=4) < 1e-4
