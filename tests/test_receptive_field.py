"""Tests of the receptive-field measures (diffusionlab/metrics/receptive_field.py)."""
import pytest
import torch
from torch import nn

from diffusionlab.metrics.receptive_field import (conv_receptive_field, conv_stack_field,
                                                  convolutions_only, receptive_field,
                                                  receptive_field_from_gradient, unet_conv_field,
                                                  unet_fields)
from diffusionlab.nn.unet import UNet


@pytest.mark.parametrize("kernels, strides", [((3, 3, 3), (1, 1, 1)), ((5, 3), (1, 1)),
                                              ((3, 3, 3), (1, 2, 1))])
def test_conv_field_matches_the_textbook_recurrence(kernels, strides):
    torch.manual_seed(0)
    net = nn.Sequential(*[nn.Conv2d(2, 2, k, stride=s, padding=k // 2)
                          for k, s in zip(kernels, strides)])
    rf = conv_receptive_field(net, net, torch.randn(1, 2, 33, 33))
    r = conv_stack_field(kernels, strides)
    assert rf.extent == (r, r)
    assert conv_stack_field([3] * 4) == 9 and conv_stack_field([3, 3], [2, 1]) == 7


def test_attention_sees_the_whole_canvas_and_convolutions_do_not():
    torch.manual_seed(0)
    unet = UNet(in_channels=4, base_channels=8, channel_mults=(1,), attention_levels=(True,),
                num_heads=2).eval()
    x = torch.randn(1, 4, 40, 40)

    def fn(z):
        return unet(z, torch.tensor([500]))
    full = receptive_field(fn, x, rel_threshold=0.0)
    conv = conv_receptive_field(unet, fn, x)
    assert full.area_share == 1.0                      # self-attention: every pixel counts
    assert conv.area_share < 0.5 and conv.extent[0] < 40  # the conv path alone is local
    assert (conv.support <= (full.gradient > 0)).all()


def test_convolutions_only_restores_the_model():
    torch.manual_seed(0)
    unet = UNet(in_channels=4, base_channels=8, channel_mults=(1, 2),
                attention_levels=(True, True), num_heads=2).eval()
    x = torch.randn(2, 4, 8, 8)
    before = unet(x, torch.tensor([10, 900]))
    names = [type(m).__name__ for m in unet.modules()]
    with convolutions_only(unet):
        changed = unet(x, torch.tensor([10, 900]))
        assert "SpatialTransformer" not in [type(m).__name__ for m in unet.modules()]
    assert [type(m).__name__ for m in unet.modules()] == names
    assert torch.equal(unet(x, torch.tensor([10, 900])), before)
    assert not torch.allclose(changed, before)


def test_mass_and_radius_of_a_known_gradient():
    g = torch.zeros(9, 9)
    g[4, 4], g[4, 6], g[0, 0] = 6.0, 3.0, 1.0
    rf = receptive_field_from_gradient(g, (4, 4), rel_threshold=0.1)
    assert rf.area_share == pytest.approx(3 / 81) and rf.extent == (5, 7)
    assert rf.mass_within(0) == pytest.approx(0.6) and rf.mass_within(2) == pytest.approx(0.9)
    assert rf.radius_for_mass(0.5) == 0 and rf.radius_for_mass(0.9) == 2
    assert rf.radius_for_mass(1.0) == 4


def test_unet_fields_on_a_tiny_unet(tiny_sd_parts):
    _, _, unet = tiny_sd_parts()
    ctx = torch.randn(1, 5, 16)
    out = unet_fields(unet, ctx, sizes=(6, 10), timesteps=(500,), seeds=(0,))
    assert set(out) == {6, 10}
    for s, r in out.items():
        assert r["full"].gradient.shape == (s, s) and r["full"].pixel == (s // 2, s // 2)
        assert r["full"].extent == (s, s)          # attention: the whole canvas, at 1 %


def test_bad_input_is_named():
    net = nn.Conv2d(1, 1, 3, padding=1)
    with pytest.raises(ValueError, match="x must hold one input"):
        receptive_field(net, torch.randn(2, 1, 5, 5))
    with pytest.raises(ValueError, match=r"pixel\[0\] must be <= 4"):
        receptive_field(net, torch.randn(1, 1, 5, 5), pixel=(7, 0))


@pytest.mark.parametrize("mults, size, expect", [((1,), 48, 25), ((1, 2), 80, 61)])
def test_unet_conv_field_analytic_equals_measured(mults, size, expect):
    torch.manual_seed(0)
    unet = UNet(in_channels=4, base_channels=8, channel_mults=mults,
                attention_levels=(True,) * len(mults), num_heads=2).eval()
    assert unet_conv_field(unet.config) == expect
    rf = conv_receptive_field(unet, lambda z: unet(z, torch.tensor([500])),
                              torch.randn(1, 4, size, size))
    assert rf.extent == (expect, expect)


def test_shipped_text2img_conv_field_covers_twice_its_training_canvas():
    import json

    from diffusionlab.checkpoints import weights_path

    config = json.loads((weights_path("text2img") / "config.json").read_text())["config"]
    assert unet_conv_field(config) == 61 > 2 * 8                    # latent 8x8 at 32x32 pixels


def test_ring_profile_and_falloff_radius():
    g = torch.zeros(9, 9)
    g[3:6, 3:6] = 0.1                                              # ring 1 at 0.1
    g[4, 4] = 1.0
    g[4, 8] = 0.005                                                # ring 4: below 1 %
    g[0, 4] = 0.02                                                 # ring 4: above 1 %
    rf = receptive_field_from_gradient(g, (4, 4))
    prof = rf.ring_profile()
    assert len(prof) == 5 and prof[0] == 1.0 and prof[1] == pytest.approx(0.1)
    assert prof[2] == prof[3] == 0.0 and prof[4] == pytest.approx(0.02)
    assert rf.falloff_radius(0.01) == 5          # ring 4 still above 1 %: the whole canvas
    g[0, 4] = 0.0
    rf = receptive_field_from_gradient(g, (4, 4))
    assert rf.falloff_radius(0.01) == 2 and rf.falloff_radius(0.2) == 1
