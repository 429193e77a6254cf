"""Graded tests for exercises/ex11_controlnet.py (see conftest.py for how the folder is chosen)."""
import torch

from diffusionlab.grading import expect_close, expect_tensor
from diffusionlab.nn.controlnet import ControlNet
from diffusionlab.nn.unet import UNet, run_encoder

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "zero_conv": "diffusionlab.nn.controlnet.zero_conv",
    "controlnet_residuals": ("diffusionlab.nn.controlnet.ControlNet.forward",),
    "inject": ("diffusionlab.nn.unet.UNet.forward",),
}


def _nets(trained=True):
    torch.manual_seed(0)
    unet = UNet(in_channels=4, context_dim=8, base_channels=8, channel_mults=(1, 2),
                attention_levels=(False, True), num_heads=2).eval()
    net = ControlNet.from_unet(unet).eval()
    if trained:                                    # pretend training moved the zero convs
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for z in net.zero_convolutions():
                z.weight.copy_(0.2 * torch.randn(z.weight.shape, generator=g))
                z.bias.copy_(0.1 * torch.randn(z.bias.shape, generator=g))
    g = torch.Generator().manual_seed(2)
    x, ctx = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 5, 8, generator=g)
    cond = (torch.rand(2, 1, 32, 32, generator=g) > 0.7).float()
    return unet, net, x, ctx, cond


def _copy_features(net, x, ctx, cond):
    t = torch.tensor([700, 20])
    with torch.no_grad():
        skips, mid, _ = run_encoder(net, x, t, ctx, None, net.controlnet_cond_embedding(cond))
    return skips, mid


def test_zero_conv_is_a_1x1_conv_with_zero_weight_and_bias(exercise):
    ex = exercise("ex11_controlnet")
    for c in (4, 16):
        conv = ex.zero_conv(c)
        assert isinstance(conv, torch.nn.Conv2d), \
            f"zero_conv({c}) should return an nn.Conv2d, got {type(conv).__name__}"
        assert conv.in_channels == conv.out_channels == c, \
            f"zero_conv({c}): {c} channels in and out, got {conv.in_channels} -> {conv.out_channels}"
        assert conv.kernel_size == (1, 1), \
            f"zero_conv({c}): the kernel is 1x1 (a per-pixel channel mix), got {conv.kernel_size}"
        assert conv.bias is not None, "zero_conv: keep the bias (it must start at 0, not be absent)"
        assert int(torch.count_nonzero(conv.weight)) == 0, \
            f"zero_conv({c}): {int(torch.count_nonzero(conv.weight))} weights are not 0"
        assert int(torch.count_nonzero(conv.bias)) == 0, \
            f"zero_conv({c}): the bias must be 0 too, got max |b| {conv.bias.abs().max():.3g}"
        assert conv.weight.requires_grad and conv.bias.requires_grad, \
            "zero_conv: the weights must stay trainable (requires_grad=True)"
        out = conv(torch.randn(2, c, 5, 5))
        assert out.shape == (2, c, 5, 5) and int(torch.count_nonzero(out)) == 0, \
            "zero_conv: its output must be exactly 0 at initialization"


def test_residuals_match_the_controlnet(exercise):
    ex = exercise("ex11_controlnet")
    unet, net, x, ctx, cond = _nets()
    skips, mid = _copy_features(net, x, ctx, cond)
    for s in (1.0, 0.5):
        with torch.no_grad():
            down, r_mid = ex.controlnet_residuals(net.zero_convolutions(), skips, mid, s)
            ref_down, ref_mid = net(x, torch.tensor([700, 20]), ctx, cond, s)
        assert isinstance(down, (list, tuple)) and len(down) == len(skips), \
            f"controlnet_residuals: expected a list of {len(skips)} residuals (one per skip), " \
            f"got {type(down).__name__} of length {len(down) if hasattr(down, '__len__') else '?'}"
        for k, (d, r) in enumerate(zip(down, ref_down)):
            expect_close(f"controlnet_residuals(scale={s})[{k}]",
                         expect_tensor(f"residual {k}", d, r.shape), r,
                         "s * Z_k(copy_skips[k]) with the k-th zero convolution")
        expect_close(f"controlnet_residuals(scale={s}) middle", r_mid, ref_mid,
                     "s * Z_K(copy_mid) with the LAST zero convolution")


def test_scale_zero_gives_zero_residuals(exercise):
    ex = exercise("ex11_controlnet")
    unet, net, x, ctx, cond = _nets()
    skips, mid = _copy_features(net, x, ctx, cond)
    with torch.no_grad():
        down, r_mid = ex.controlnet_residuals(net.zero_convolutions(), skips, mid, 0.0)
    assert all(int(torch.count_nonzero(d)) == 0 for d in down) and \
        int(torch.count_nonzero(r_mid)) == 0, \
        "controlnet_residuals(scale=0): every residual must be 0 (scale multiplies the bias too)"


def test_inject_equals_the_unets_own_residual_path(exercise):
    ex = exercise("ex11_controlnet")
    unet, net, x, ctx, cond = _nets()
    t = torch.tensor([700, 20])
    with torch.no_grad():
        down, r_mid = net(x, t, ctx, cond)
        skips, mid, temb = unet.encode(x, t, ctx)
        before = [s.clone() for s in skips], mid.clone()
        new_skips, new_mid = ex.inject(skips, mid, down, r_mid)
        assert all(torch.equal(a, b) for a, b in zip(skips, before[0])) and \
            torch.equal(mid, before[1]), "inject changed its inputs in place: return new tensors"
        got = unet.decode(list(new_skips), new_mid, temb, ctx)
        ref = unet(x, t, ctx, down_residuals=down, mid_residual=r_mid)
    expect_close("inject: the U-Net's output", got, ref,
                 "skip_k + r_k for every k (in order) and mid + r_mid")


def test_fresh_controlnet_changes_nothing(exercise):
    ex = exercise("ex11_controlnet")
    unet, net, x, ctx, cond = _nets(trained=False)
    convs = [ex.zero_conv(c) for c in net.skip_channels] + [ex.zero_conv(net.skip_channels[-1])]
    skips, mid = _copy_features(net, x, ctx, cond)
    t = torch.tensor([700, 20])
    with torch.no_grad():
        down, r_mid = ex.controlnet_residuals(convs, skips, mid, 1.0)
        s, m, temb = unet.encode(x, t, ctx)
        new_skips, new_mid = ex.inject(s, m, down, r_mid)
        got = unet.decode(list(new_skips), new_mid, temb, ctx)
    assert torch.equal(got, unet(x, t, ctx)), \
        "a ControlNet built from your zero_conv must leave the U-Net's output bit-identical"
