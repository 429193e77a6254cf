"""The U-Net: shapes, skip ablation, ControlNet hooks, checkpoints, bad input,
and the two shipped pixel U-Nets of lesson 06."""
import json

import pytest
import torch

from diffusionlab.checkpoints import load_checkpoint, save_checkpoint, weights_path
from diffusionlab.nn.unet import Downsample, ResBlock, UNet, Upsample

TINY = dict(base_channels=8, channel_mults=(1, 2), attention_levels=(False, True), num_heads=2)


def _x(b=2, c=3, h=16, w=16, seed=0):
    return torch.randn(b, c, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("channels,size", [(3, 32), (4, 8)])
@pytest.mark.parametrize("context_dim", [None, 12])
def test_output_shape_equals_input_shape(channels, size, context_dim):
    config = {**TINY, "channel_mults": (1, 2, 2), "attention_levels": (False, True, True)}
    model = UNet(in_channels=channels, context_dim=context_dim, **config).eval()
    x = _x(2, channels, size, size)
    context = torch.randn(2, 5, context_dim) if context_dim else None
    with torch.no_grad():
        y = model(x, torch.tensor([3, 900]), context=context)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_other_sizes_and_out_channels():
    model = UNet(in_channels=3, out_channels=6, **TINY).eval()
    with torch.no_grad():
        y = model(_x(1, 3, 12, 20), 10)          # any size divisible by 2^(levels-1) = 2
    assert y.shape == (1, 6, 12, 20)


def test_blocks():
    temb = torch.randn(2, 16)
    block = ResBlock(8, 12, temb_dim=16)
    x = _x(2, 8, 8, 8)
    assert block(x, temb).shape == (2, 12, 8, 8)
    assert isinstance(block.conv_shortcut, torch.nn.Conv2d)      # 1x1 skip when channels change
    assert isinstance(ResBlock(8, 8, 16).conv_shortcut, torch.nn.Identity)
    # the time embedding shifts the features: a different temb gives a different output,
    # also at small widths (GroupNorm keeps several channels per group, so it cannot erase
    # a per-channel shift the way one-channel groups would)
    for b in (block, ResBlock(8, 8, temb_dim=16), ResBlock(4, 4, temb_dim=16)):
        xb = x[:, :b.norm1.num_channels]
        assert (b(xb, temb) - b(xb, torch.randn(2, 16))).abs().max() > 1e-3
    assert Downsample(8)(x).shape == (2, 8, 4, 4)
    assert Upsample(8)(x).shape == (2, 8, 16, 16)


def test_time_conditioning_and_scalar_t():
    model = UNet(**TINY).eval()
    x = _x()
    with torch.no_grad():
        a = model(x, 5)
        b = model(x, torch.tensor([5, 5]))
        c = model(x, torch.tensor(5))
        d = model(x, 600)
    assert torch.equal(a, b) and torch.equal(a, c)
    assert (a - d).abs().max() > 1e-4


def test_skip_channels_and_encode_decode():
    model = UNet(**TINY).eval()
    # conv_in, level-0 resnet, level-0 downsample, level-1 resnet
    assert model.skip_channels == [8, 8, 8, 16]
    assert model.skip_shapes(16, 12) == [(8, 16, 12), (8, 16, 12), (8, 8, 6), (16, 8, 6)]
    assert model.mid_shape(16, 12) == (16, 8, 6)
    x = _x(2, 3, 16, 12)
    with torch.no_grad():
        skips, mid, temb = model.encode(x, 7)
        assert [tuple(s.shape[1:]) for s in skips] == model.skip_shapes(16, 12)
        assert tuple(mid.shape[1:]) == model.mid_shape(16, 12)
        assert temb.shape == (2, 4 * 8)
        assert torch.allclose(model.decode(skips, mid, temb), model(x, 7), atol=1e-6)
    assert "skip 3" in model.describe(16, 12)


def test_parameter_count_equal_with_and_without_skips():
    n = [sum(p.numel() for p in UNet(use_skips=s, **TINY).parameters()) for s in (True, False)]
    assert n[0] == n[1]


def test_without_skips_output_ignores_the_skip_tensors():
    torch.manual_seed(0)
    skip_model = UNet(**TINY).eval()
    noskip_model = UNet(use_skips=False, **TINY).eval()
    noskip_model.load_state_dict(skip_model.state_dict())       # same weights, same shapes
    x = _x()
    with torch.no_grad():
        for model, should_change in ((skip_model, True), (noskip_model, False)):
            skips, mid, temb = model.encode(x, 50)
            other = [s + torch.randn_like(s) for s in skips]    # what the encoder passes across
            changed = (model.decode(other, mid, temb) - model.decode(skips, mid, temb)).abs().max()
            assert (changed > 1e-3) == should_change, (model.use_skips, float(changed))
        # the middle path still matters without skips
        skips, mid, temb = noskip_model.encode(x, 50)
        assert (noskip_model.decode(skips, mid + 1.0, temb)
                - noskip_model.decode(skips, mid, temb)).abs().max() > 1e-3


def test_residuals_zero_is_identity_nonzero_changes_output():
    model = UNet(**TINY).eval()
    x = _x()
    H, W = x.shape[-2:]
    zeros = [torch.zeros(2, *s) for s in model.skip_shapes(H, W)]
    with torch.no_grad():
        base = model(x, 100)
        zero_mid = torch.zeros(2, *model.mid_shape(H, W))
        same = model(x, 100, down_residuals=zeros, mid_residual=zero_mid)
        assert torch.equal(base, same)
        for k in range(len(zeros)):
            res = [z.clone() for z in zeros]
            res[k] = torch.randn_like(res[k])
            assert (model(x, 100, down_residuals=res) - base).abs().max() > 1e-4, k
        mid = torch.randn(2, *model.mid_shape(H, W))
        assert (model(x, 100, mid_residual=mid) - base).abs().max() > 1e-4
        # the residual is added to the skip, exactly as diffusers does: same as decoding by hand
        skips, h, temb = model.encode(x, 100)
        res = [torch.randn_like(s) for s in skips]
        by_hand = model.decode([s + r for s, r in zip(skips, res)], h + mid, temb)
        with_res = model(x, 100, down_residuals=res, mid_residual=mid)
        assert torch.allclose(with_res, by_hand, atol=1e-6)
        # encode's input_residual is added after conv_in (where a ControlNet injects its condition)
        s0, _, _ = model.encode(x, 100, input_residual=torch.ones(2, *model.skip_shapes(H, W)[0]))
        assert torch.allclose(s0[0], skips[0] + 1.0, atol=1e-6)


def test_cross_attention_uses_context_and_mask():
    model = UNet(context_dim=6, **TINY).eval()
    x, ctx = _x(), torch.randn(2, 4, 6)
    mask = torch.tensor([[True, True, False, False]] * 2)
    with torch.no_grad():
        base = model(x, 10, context=ctx)
        assert (model(x, 10, context=ctx + 1.0) - base).abs().max() > 1e-4
        masked = model(x, 10, context=ctx, context_mask=mask)
        ctx2 = ctx.clone()
        ctx2[:, 2:] = torch.randn(2, 2, 6)                       # change only the masked tokens
        assert torch.allclose(model(x, 10, context=ctx2, context_mask=mask), masked, atol=1e-5)


def test_conditioning_channels_widen_conv_in():
    model = UNet(conditioning_channels=6, **TINY).eval()       # e.g. 3 + 6 (inpainting-style)
    assert model.conv_in.in_channels == 9
    with torch.no_grad():
        assert model(_x(2, 9), 3).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match=r"x must have 9 channels \(3 \+ 6 conditioning\)"):
        model(_x(2, 3), 3)


def test_checkpoint_round_trip(tmp_path):
    model = UNet(context_dim=6, use_skips=False, dropout=0.1, **TINY).eval()
    save_checkpoint(model, tmp_path / "ck")
    loaded = load_checkpoint(UNet, tmp_path / "ck")
    assert loaded.config == model.config
    assert json.loads((tmp_path / "ck" / "config.json").read_text())["config"]["use_skips"] is False
    x, ctx = _x(), torch.randn(2, 3, 6)
    with torch.no_grad():
        assert torch.equal(model(x, 42, context=ctx), loaded(x, 42, context=ctx))


def test_bad_inputs():
    model = UNet(**TINY).eval()
    x = _x()
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        model(x[0], 1)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        model(x.numpy(), 1)
    with pytest.raises(ValueError, match="x must have 3 channels"):
        model(_x(2, 4), 1)
    with pytest.raises(ValueError, match="divisible by 2"):
        model(_x(2, 3, 15, 16), 1)
    with pytest.raises(ValueError, match="t has 3 timesteps but x has a batch of 2"):
        model(x, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="t must be >= 0"):
        model(x, -1)
    with pytest.raises(TypeError, match="t must be an int or a tensor"):
        model(x, "5")
    with pytest.raises(ValueError, match="context was given but this UNet has context_dim=None"):
        model(x, 1, context=torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="down_residuals must have 4 tensors"):
        model(x, 1, down_residuals=[torch.zeros(2, 8, 16, 16)])
    res = [torch.zeros(2, *s) for s in model.skip_shapes(16, 16)]
    res[2] = torch.zeros(2, 8, 16, 16)
    with pytest.raises(ValueError, match=r"down_residuals\[2\] must have shape \(2, 8, 8, 8\)"):
        model(x, 1, down_residuals=res)
    with pytest.raises(ValueError, match=r"mid_residual must have shape \(2, 16, 8, 8\)"):
        model(x, 1, mid_residual=torch.zeros(2, 16, 16, 16))
    cross = UNet(context_dim=6, **TINY)
    with pytest.raises(ValueError, match="context is required"):
        cross(x, 1)
    with pytest.raises(ValueError, match=r"context must have shape \(2, L, 6\)"):
        cross(x, 1, context=torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="context_mask must be a tensor of shape"):
        cross(x, 1, context=torch.randn(2, 3, 6), context_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="attention_levels must have one flag per level"):
        UNet(channel_mults=(1, 2), attention_levels=(True,))
    with pytest.raises(ValueError, match="num_heads"):
        UNet(base_channels=8, channel_mults=(1,), attention_levels=(False,), num_heads=3)
    with pytest.raises(ValueError, match="base_channels must be >= 1"):
        UNet(base_channels=0)


# ----------------------------------------------------------- shipped checkpoints (lesson 06)
@pytest.mark.slow
def test_shipped_pixel_unets_skips_preserve_detail():
    from diffusionlab.checkpoints import read_manifest
    from diffusionlab.metrics.denoising import reconstruction_errors
    from diffusionlab.schedules import make_schedule

    names = ("unet_pixel", "unet_pixel_noskip", "unet_pixel_x0", "unet_pixel_x0_noskip")
    errs = {}
    for name in names:
        model = UNet.pretrained(name)
        manifest = read_manifest(weights_path(name))
        assert model.use_skips == (not name.endswith("noskip")), name
        errs[name] = reconstruction_errors(model, make_schedule("linear"), timesteps=(10, 50, 500), n=64,
                                           prediction_type=manifest["prediction_type"])
        assert manifest["scores"]["x0_mse_t50"] == pytest.approx(errs[name][50]["x0_mse"],
                                                                 rel=0.5), name

    def ratio(pair, t, key="x0_mse"):
        return errs[pair + "_noskip"][t][key] / errs[pair][t][key]

    # noise predictors: without skips the full-resolution noise cannot be reproduced at all
    assert ratio("unet_pixel", 50) > 3 and ratio("unet_pixel", 50, "highpass_mse") > 3, errs
    assert errs["unet_pixel_noskip"][50]["eps_mse"] > 0.3 > 0.1 > errs["unet_pixel"][50]["eps_mse"]
    # x0 predictors: skips keep the detail at low noise; the gap shrinks at high noise
    assert ratio("unet_pixel_x0", 10) > 1.5, errs
    assert ratio("unet_pixel_x0", 10, "highpass_mse") > 1.5, errs
    assert ratio("unet_pixel_x0", 500) < ratio("unet_pixel_x0", 10) / 1.5, errs
