"""LoRA (diffusionlab.nn.lora): the math against peft's own layer, the identities a lesson
relies on (fresh adapter = no change, merge = unmerged), saving the adapter alone, and the
bad inputs."""
import json

import pytest
import torch
from torch import nn

from diffusionlab.nn import lora
from diffusionlab.nn.lora import (LoRAConv2d, LoRALinear, inject_lora, load_lora, lora_layers,
                                  lora_state_dict, merge_lora, remove_lora, save_lora,
                                  set_lora_scale, unmerge_lora)
from diffusionlab.nn.unet import UNet

TINY = dict(in_channels=4, context_dim=16, base_channels=8, channel_mults=(1, 2),
            attention_levels=(True, True), num_heads=2)


def tiny_unet(seed=0):
    torch.manual_seed(seed)
    return UNet(**TINY).eval()


def unet_inputs(seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(2, 4, 8, 8, generator=g), torch.tensor([10, 500]),
            torch.randn(2, 5, 16, generator=g))


def randomize_B(model, adapter="default", seed=3):
    """A trained-looking adapter: B != 0 (a fresh one is exactly zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            B = layer.lora_B[adapter].weight
            B.copy_(0.1 * torch.randn(B.shape, generator=g))


# ------------------------------------------------------------------ the math, against peft
def _peft_linear(base, r, alpha):
    from peft import LoraConfig
    from peft.tuners.lora import Linear as PeftLinear

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0)
    return PeftLinear(base, "default", config, r=r, lora_alpha=alpha, lora_dropout=0.0)


@pytest.mark.parametrize("r,alpha", [(1, 1), (4, 4), (4, 8), (8, 2)])
def test_linear_matches_peft(r, alpha):
    base = nn.Linear(12, 7)
    ours = LoRALinear(base, rank=r, alpha=alpha)
    theirs = _peft_linear(nn.Linear(12, 7), r, alpha)
    theirs.base_layer.load_state_dict(base.state_dict())
    with torch.no_grad():
        ours.lora_B["default"].weight.normal_()
        theirs.lora_A["default"].weight.copy_(ours.lora_A["default"].weight)
        theirs.lora_B["default"].weight.copy_(ours.lora_B["default"].weight)
    x = torch.randn(3, 5, 12)
    assert torch.allclose(ours(x), theirs(x), atol=1e-6)
    assert ours.scaling("default") == pytest.approx(theirs.scaling["default"])
    assert torch.allclose(ours.delta_weight(), theirs.get_delta_weight("default"), atol=1e-6)


def test_init_matches_peft_default():
    """Same seed, same layer: the same A (kaiming-uniform, a = sqrt 5) and B = 0 as peft."""
    torch.manual_seed(5)
    ours = LoRALinear(nn.Linear(12, 7), rank=4, alpha=4)
    torch.manual_seed(5)
    theirs = _peft_linear(nn.Linear(12, 7), 4, 4)
    assert torch.equal(ours.lora_A["default"].weight, theirs.lora_A["default"].weight)
    assert torch.count_nonzero(ours.lora_B["default"].weight) == 0
    bound = 1 / 12 ** 0.5                      # kaiming_uniform(a=sqrt 5) bound = 1/sqrt(fan_in)
    assert ours.lora_A["default"].weight.abs().max() <= bound


@pytest.mark.parametrize("kernel,stride,padding", [(3, 1, 1), (1, 1, 0), (3, 2, 1)])
def test_conv_matches_peft(kernel, stride, padding):
    from peft import LoraConfig
    from peft.tuners.lora import Conv2d as PeftConv2d

    base = nn.Conv2d(6, 5, kernel, stride, padding)
    ours = LoRAConv2d(base, rank=3, alpha=6)
    other = nn.Conv2d(6, 5, kernel, stride, padding)
    other.load_state_dict(base.state_dict())
    theirs = PeftConv2d(other, "default", LoraConfig(r=3, lora_alpha=6), r=3, lora_alpha=6,
                        lora_dropout=0.0)
    with torch.no_grad():
        ours.lora_B["default"].weight.normal_()
        theirs.lora_A["default"].weight.copy_(ours.lora_A["default"].weight)
        theirs.lora_B["default"].weight.copy_(ours.lora_B["default"].weight)
    x = torch.randn(2, 6, 9, 9)
    assert torch.allclose(ours(x), theirs(x), atol=1e-5)
    assert torch.allclose(ours.delta_weight(), theirs.get_delta_weight("default"), atol=1e-5)


def test_forward_is_the_equation():
    base = nn.Linear(10, 6)
    layer = LoRALinear(base, rank=2, alpha=3)
    with torch.no_grad():
        layer.lora_B["default"].weight.normal_()
    A, B = layer.lora_A["default"].weight, layer.lora_B["default"].weight
    x = torch.randn(4, 10)
    want = x @ base.weight.T + base.bias + (3 / 2) * x @ A.T @ B.T    # W x + b + (alpha/r) B A x
    assert torch.allclose(layer(x), want, atol=1e-6)
    layer.scale["default"] = 0.5
    want = x @ base.weight.T + base.bias + 0.5 * (3 / 2) * x @ A.T @ B.T
    assert torch.allclose(layer(x), want, atol=1e-6)


# ------------------------------------------------------------------ identities on the U-Net
def test_fresh_adapter_is_bit_identical():
    unet = tiny_unet()
    x, t, c = unet_inputs()
    with torch.no_grad():
        before = unet(x, t, c)
        params = inject_lora(unet, rank=4, alpha=4)
        after = unet(x, t, c)
    assert torch.equal(before, after)
    assert len(params) == 2 * len(lora_layers(unet)) and len(lora_layers(unet)) > 0


@pytest.mark.parametrize("targets", [lora.CROSS_ATTENTION, lora.ATTENTION,
                                     lora.ATTENTION_FF_CONV])
def test_merge_equals_unmerged_and_unmerge_restores(targets):
    unet = tiny_unet()
    x, t, c = unet_inputs()
    original = {k: v.clone() for k, v in unet.state_dict().items()}
    with torch.no_grad():
        base_out = unet(x, t, c)
        inject_lora(unet, targets, rank=4, alpha=8)
        randomize_B(unet)
        set_lora_scale(unet, 0.7)
        unmerged = unet(x, t, c)
        merge_lora(unet)
        merged = unet(x, t, c)
        assert not torch.allclose(unmerged, base_out, atol=1e-3)     # the adapter does act
        assert torch.allclose(merged, unmerged, atol=1e-5)
        unmerge_lora(unet)
        assert torch.allclose(unet(x, t, c), unmerged, atol=1e-5)
        remove_lora(unet)
        assert not lora_layers(unet)
        for k, v in unet.state_dict().items():
            assert torch.equal(v, original[k]), k           # unmerge restores W bit for bit
        assert torch.equal(unet(x, t, c), base_out)


def test_only_adapter_trains_and_state_dict_has_only_adapter():
    unet = tiny_unet()
    params = inject_lora(unet, rank=2, alpha=2)
    trainable = [p for p in unet.parameters() if p.requires_grad]
    assert {id(p) for p in trainable} == {id(p) for p in params}
    sd = lora_state_dict(unet)
    assert sd and all(k.endswith((".lora_A.weight", ".lora_B.weight")) for k in sd)
    assert len(sd) == len(params)
    assert "down_blocks.0.attentions.0.blocks.0.attn2.to_k.lora_A.weight" in sd
    assert sum(v.numel() for v in sd.values()) == sum(p.numel() for p in params)


def test_cross_attention_targets_skip_self_attention():
    unet = tiny_unet()
    inject_lora(unet, lora.CROSS_ATTENTION, rank=1)
    names = list(lora_layers(unet))
    assert names and all(".attn2." in n for n in names)


def test_two_adapters_add_and_scale():
    base = nn.Linear(8, 8)
    layer = LoRALinear(base, rank=2, alpha=2, adapter_name="a")
    layer.add_adapter("b", rank=3, alpha=3)
    with torch.no_grad():
        for n in "ab":
            layer.lora_B[n].weight.normal_()
    x = torch.randn(5, 8)
    with torch.no_grad():
        da = x @ layer.delta_weight("a").T
        db = x @ layer.delta_weight("b").T
    with torch.no_grad():
        plain = base(x)
        layer.scale["a"], layer.scale["b"] = 0.3, 0.9
        want = plain + 0.3 * da + 0.9 * db
        assert torch.allclose(layer(x), want, atol=1e-5)
        layer.merge()                                  # base.weight now holds both updates
        assert torch.allclose(base(x), want, atol=1e-5)
        assert torch.allclose(layer(x), want, atol=1e-5)
        layer.unmerge()
        layer.remove_adapter("a")
        assert torch.allclose(layer(x), plain + 0.9 * db, atol=1e-5)

def test_remove_one_of_two_keeps_the_other_merged():
    unet = tiny_unet()
    x, t, c = unet_inputs()
    inject_lora(unet, rank=2, adapter_name="a")
    inject_lora(unet, rank=2, adapter_name="b")
    randomize_B(unet, "a", 1)
    randomize_B(unet, "b", 2)
    with torch.no_grad():
        remove_lora(unet, "a")
        only_b = unet(x, t, c)
        merge_lora(unet)
        remove_lora(unet, "a") if "a" in lora.adapter_names(unet) else None
        assert torch.allclose(unet(x, t, c), only_b, atol=1e-5)
    assert lora.adapter_names(unet) == ["b"]


# ------------------------------------------------------------------ saving and loading
def test_save_and_load_round_trip(tmp_path):
    unet = tiny_unet()
    x, t, c = unet_inputs()
    inject_lora(unet, rank=4, alpha=4)
    randomize_B(unet)
    with torch.no_grad():
        want = unet(x, t, c)
    save_lora(unet, tmp_path / "ad", base_model="tiny")
    cfg = json.loads((tmp_path / "ad" / "config.json").read_text())
    assert cfg["class"] == "LoRA" and cfg["config"]["rank"] == 4
    assert cfg["config"]["base_model"] == "tiny"
    from safetensors.torch import load_file
    assert set(load_file(str(tmp_path / "ad" / "model.safetensors"))) == set(lora_state_dict(unet))

    fresh = tiny_unet()
    load_lora(fresh, tmp_path / "ad", base_model="tiny")
    with torch.no_grad():
        assert torch.allclose(fresh(x, t, c), want, atol=1e-6)
    half = tiny_unet()
    load_lora(half, tmp_path / "ad", scale=0.0)
    with torch.no_grad():
        assert torch.equal(half(x, t, c), tiny_unet()(x, t, c))


def test_adapter_for_another_model_is_refused(tmp_path):
    unet = tiny_unet()
    inject_lora(unet, rank=2)
    save_lora(unet, tmp_path / "ad", base_model="text2img")
    with pytest.raises(ValueError, match="trained for base model 'text2img', not 'inpaint'"):
        load_lora(tiny_unet(), tmp_path / "ad", base_model="inpaint")
    wider = UNet(**{**TINY, "base_channels": 16})
    with pytest.raises(ValueError, match="does not fit"):
        load_lora(wider, tmp_path / "ad")
    with pytest.raises(ValueError, match="does not have"):
        load_lora(nn.Sequential(nn.Linear(3, 3)), tmp_path / "ad")
    with pytest.raises(FileNotFoundError, match="not a LoRA adapter folder"):
        load_lora(tiny_unet(), tmp_path)


# ------------------------------------------------------------------ bad input
def test_bad_inputs():
    with pytest.raises(ValueError, match="rank must be >= 1"):
        LoRALinear(nn.Linear(4, 4), rank=0)
    with pytest.raises(ValueError, match="rank must be >= 1"):
        inject_lora(tiny_unet(), rank=0)
    with pytest.raises(TypeError, match="rank must be an int"):
        inject_lora(tiny_unet(), rank=2.5)
    with pytest.raises(ValueError, match="'to_qq' matches no module.*to_q"):
        inject_lora(tiny_unet(), ("to_q", "to_qq"))
    with pytest.raises(TypeError, match="target_modules must be"):
        inject_lora(tiny_unet(), [])
    with pytest.raises(TypeError, match="nn.Linear and nn.Conv2d only"):
        inject_lora(tiny_unet(), ("norm1",))
    with pytest.raises(TypeError, match="base must be an nn.Linear"):
        LoRALinear(nn.Conv2d(3, 3, 1))
    unet = tiny_unet()
    inject_lora(unet, rank=2)
    with pytest.raises(ValueError, match="already has an adapter named 'default'"):
        inject_lora(unet, rank=2)
    with pytest.raises(ValueError, match="no LoRA adapter named 'nope'"):
        set_lora_scale(unet, 0.5, "nope")
    merge_lora(unet)
    with pytest.raises(RuntimeError, match="unmerge_lora"):
        set_lora_scale(unet, 0.5)


def test_sd15_shapes_match_diffusers():
    """The lesson's SD 1.5 arithmetic, checked against diffusers' own U-Net (built on the meta
    device: no weights, no download)."""
    diffusers = pytest.importorskip("diffusers")
    config = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                  block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768,
                  attention_head_dim=8,
                  down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                  up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
    with torch.device("meta"):
        unet = diffusers.UNet2DConditionModel(**config)
    assert sum(p.numel() for p in unet.parameters()) == lora.SD15_UNET_PARAMETERS
    theirs = sorted((m.in_features, m.out_features) for n, m in unet.named_modules()
                    if isinstance(m, nn.Linear) and n.split(".")[-1] in ("to_q", "to_k", "to_v")
                    or n.endswith("to_out.0"))
    ours = sorted((d_in, d_out) for _, d_in, d_out in lora.sd15_attention_layers())
    assert ours == theirs and len(ours) == 32 * 4
