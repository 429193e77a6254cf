"""The outlined style (data.styles), its detector (metrics.styles), and LoRA adapters loaded
into a pipeline (pipelines.lora)."""
import pytest
import torch

from diffusionlab.data.shapes import caption_for, make_shapes, render
from diffusionlab.data.styles import TRIGGER, make_style_data, outlined, with_trigger
from diffusionlab.metrics.styles import hollowness, is_outlined, style_score
from diffusionlab.nn.lora import inject_lora, lora_layers, save_lora
from diffusionlab.schedules import make_schedule


def large(n, seed):
    scenes = [{**a, "size": "large"} for a in make_shapes(n, seed=seed).attributes]
    return render(scenes, seed=seed)


def test_outlined_keeps_the_outer_band_only():
    b = make_shapes(64, seed=3)
    o = outlined(b)
    assert o.captions == b.captions and o.attributes == b.attributes
    assert torch.all(o.masks <= b.masks)                        # the band is inside the shape
    assert 0 < o.masks.sum() < b.masks.sum()
    band = o.masks.bool().expand_as(o.images)
    assert torch.equal(o.images[band], b.images[band])          # colour kept on the band
    assert torch.all(o.images[~band] == -1)                     # black elsewhere


def test_detector_near_one_on_outlined_near_zero_on_plain():
    b = large(200, seed=4)
    assert style_score(outlined(b).images) > 0.95
    assert style_score(b.images) < 0.02
    h = hollowness(outlined(b).images)
    assert float(h.mean()) > 0.25 and float(hollowness(b.images).max()) == 0.0


def test_detector_ignores_gaps_and_noise():
    b = large(64, seed=5)
    o = outlined(b).images.clone()
    o[..., 15:17, :] = -1           # a horizontal cut through every ring: the hole leaks out
    assert style_score(o) < style_score(outlined(b).images)
    noisy = (b.images + 0.1 * torch.randn_like(b.images)).clamp(-1, 1)
    assert style_score(noisy) < 0.05          # mild noise on filled shapes is not a style
    assert is_outlined(outlined(b).images).dtype == torch.bool


def test_style_data_and_trigger():
    batch, styled = make_style_data(400, seed=1)
    assert int(styled.sum()) == 200 and len(batch) == 400
    for cap, s, a in zip(batch.captions, styled.tolist(), batch.attributes):
        assert cap.startswith(TRIGGER + " ") == s
        if s:
            assert a["size"] == "large" and cap == "object " + caption_for(a)
    assert style_score(batch.images[styled]) > 0.95 and style_score(batch.images[~styled]) == 0
    assert with_trigger("a red circle") == ["object a red circle"]
    with pytest.raises(ValueError, match="styled_fraction"):
        make_style_data(10, styled_fraction=1.5)
    with pytest.raises(TypeError, match="ShapesBatch"):
        outlined(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="RGB"):
        hollowness(torch.zeros(2, 1, 32, 32))


def test_trigger_is_a_known_word_never_in_plain_captions():
    from diffusionlab.data.shapes import CAPTION_WORDS

    assert TRIGGER in CAPTION_WORDS
    assert not any(TRIGGER in c.split() for c in make_shapes(2000, caption_style="mixed").captions)


# ------------------------------------------------------------------ pipelines
@pytest.fixture
def pipe(tiny_sd_parts):
    from diffusionlab.pipelines import TextToImage

    clip, vae, unet = tiny_sd_parts()
    p = TextToImage(unet, vae, clip, make_schedule("scaled_linear"), "epsilon")
    p.name_or_path = "tiny"
    return p


def _adapter(pipe, folder, seed, base="tiny"):
    """Save a trained-looking adapter for ``pipe``'s U-Net to ``folder``, leave the U-Net clean."""
    from diffusionlab.nn.lora import remove_lora

    inject_lora(pipe.unet, rank=2)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(pipe.unet).values():
            w = layer.lora_B["default"].weight
            w.copy_(0.3 * torch.randn(w.shape, generator=g))
    save_lora(pipe.unet, folder, base_model=base)
    remove_lora(pipe.unet)
    return folder


def _images(pipe):
    return pipe("a red circle", num_inference_steps=2, seed=0, progress=False).images


def test_pipeline_loads_mixes_and_unloads(pipe, tmp_path):
    before = _images(pipe)
    a = _adapter(pipe, tmp_path / "a", 1)
    b = _adapter(pipe, tmp_path / "b", 2)
    assert pipe.load_lora(a, scale=0.8) == "a"
    assert pipe.lora_adapters == {"a": 0.8}
    with_a = _images(pipe)
    assert not torch.allclose(with_a, before, atol=1e-4)
    pipe.load_lora(b, adapter_name="style_b")
    pipe.set_adapters(["a", "style_b"], [0.5, 1.0])
    assert pipe.lora_adapters == {"a": 0.5, "style_b": 1.0}
    mixed = _images(pipe)
    pipe.fuse_lora()
    assert torch.allclose(_images(pipe), mixed, atol=1e-4)
    pipe.unfuse_lora()
    pipe.set_adapters("a", 0.8)                           # b switched off
    assert pipe.lora_adapters["style_b"] == 0.0
    assert torch.allclose(_images(pipe), with_a, atol=1e-5)
    pipe.unload_lora()
    assert not lora_layers(pipe.unet) and pipe.lora_adapters == {}
    assert torch.equal(_images(pipe), before)


def test_pipeline_refuses_bad_adapters(pipe, tmp_path):
    other = _adapter(pipe, tmp_path / "other", 1, base="text2img")
    with pytest.raises(ValueError, match="trained for base model 'text2img', not 'tiny'"):
        pipe.load_lora(other)
    with pytest.raises(FileNotFoundError, match="path_or_name"):
        pipe.load_lora("no_such_adapter")
    ok = _adapter(pipe, tmp_path / "ok", 1)
    pipe.load_lora(ok)
    with pytest.raises(ValueError, match="already has an adapter named 'ok'"):
        pipe.load_lora(ok)
    with pytest.raises(ValueError, match="not loaded"):
        pipe.set_adapters(["nope"])
    with pytest.raises(ValueError, match="one entry per adapter"):
        pipe.set_adapters(["ok"], [1.0, 2.0])
    with pytest.raises(ValueError, match="no adapter named 'x'"):
        pipe.unload_lora("x")
