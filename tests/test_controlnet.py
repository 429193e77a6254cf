"""ControlNet: zero convolutions, the identity at initialization, the gradient puzzle, the
pipeline's checks, and (slow) the shipped ControlNets' scores."""
import pytest
import torch

from diffusionlab.checkpoints import load_checkpoint, read_manifest, weights_path
from diffusionlab.data.freeform import OUTLINES, draw_outlines, make_free_shapes
from diffusionlab.nn.controlnet import ControlledUNet, ControlNet, zero_conv
from diffusionlab.pipelines import ControlNetPipeline, TextToImage
from diffusionlab.schedules import make_schedule


@pytest.fixture
def unet(tiny_sd_parts):
    return tiny_sd_parts()[2]


def _inputs(B=2):
    g = torch.Generator().manual_seed(1)
    maps = make_free_shapes(B, seed=3).edges
    return torch.randn(B, 4, 8, 8, generator=g), torch.randn(B, 12, 16, generator=g), maps


def test_zero_conv_is_exactly_zero():
    conv = zero_conv(6)
    assert conv.kernel_size == (1, 1)
    assert torch.count_nonzero(conv.weight) == 0 and torch.count_nonzero(conv.bias) == 0
    assert torch.count_nonzero(conv(torch.randn(2, 6, 4, 4))) == 0


def test_from_unet_copies_the_encoder_and_is_the_identity(unet):
    net = ControlNet.from_unet(unet)
    for name in ("conv_in", "time_embedding", "down_blocks", "mid_block"):
        a, b = getattr(unet, name).state_dict(), getattr(net, name).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
        assert all(pa.data_ptr() != pb.data_ptr() for pa, pb in
                   zip(getattr(unet, name).parameters(), getattr(net, name).parameters()))
    assert len(net.zero_convolutions()) == len(unet.skip_channels) + 1
    x, ctx, maps = _inputs()
    with torch.no_grad():
        down, mid = net(x, 500, ctx, maps)
        assert all(torch.count_nonzero(d) == 0 for d in down) and torch.count_nonzero(mid) == 0
        base = unet(x, 500, ctx)
        controlled = ControlledUNet(unet, net, maps)(x, torch.full((2,), 500), ctx)
    assert torch.equal(base, controlled)                 # bit for bit


def test_gradient_puzzle_zero_convs_learn_first_the_copy_one_step_later(unet):
    unet.requires_grad_(False)
    net = ControlNet.from_unet(unet).train()
    x, ctx, maps = _inputs(4)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)

    def step():
        opt.zero_grad()
        down, mid = net(x, 300, ctx, maps)
        out = unet(x, 300, ctx, down_residuals=down, mid_residual=mid)
        ((out - torch.randn_like(out)) ** 2).mean().backward()
        zc = sum(float(c.weight.grad.abs().sum()) for c in net.zero_convolutions())
        copy = sum(float(p.grad.abs().sum()) for p in net.down_blocks.parameters())
        return zc, copy

    zc, copy = step()
    assert zc > 0 and copy == 0.0
    opt.step()
    zc, copy = step()
    assert zc > 0 and copy > 0


def test_trained_residuals_change_the_output_and_scale_zero_is_the_base(unet):
    net = ControlNet.from_unet(unet)
    with torch.no_grad():
        for c in net.zero_convolutions():
            c.weight.normal_(0, 0.1)
        net.controlnet_cond_embedding.conv_out.weight.normal_(0, 0.1)
    x, ctx, maps = _inputs()
    t = torch.full((2,), 400)
    with torch.no_grad():
        base = unet(x, t, ctx)
        assert (ControlledUNet(unet, net, maps, 1.0)(x, t, ctx) - base).abs().max() > 1e-3
        assert torch.equal(ControlledUNet(unet, net, maps, 0.0)(x, t, ctx), base)
        # the condition matters: another map gives another output
        other = make_free_shapes(2, seed=9).edges
        assert (ControlledUNet(unet, net, other)(x, t, ctx)
                - ControlledUNet(unet, net, maps)(x, t, ctx)).abs().max() > 1e-4


@pytest.fixture(scope="module")
def toy_controlnet_pipe(tiny_sd_parts):
    clip, vae, unet = tiny_sd_parts()
    base = TextToImage(unet, vae, clip, make_schedule("scaled_linear"))
    return base, ControlNetPipeline.from_pipeline(base, ControlNet.from_unet(unet))


def test_pipeline_fresh_controlnet_is_bit_identical(toy_controlnet_pipe):
    base, pipe = toy_controlnet_pipe
    maps = make_free_shapes(3, seed=1).masks
    kw = dict(num_inference_steps=4, seed=3, progress=False)
    a = base(["a red shape", "a circle", ""], **kw).images
    b = pipe(["a red shape", "a circle", ""], image=maps, **kw).images
    assert torch.equal(a, b)


@pytest.mark.parametrize("bad,match", [
    (torch.zeros(3, 1, 16, 16), "shape"), (torch.zeros(3, 3, 32, 32), "shape"),
    (torch.full((3, 1, 32, 32), 2.0), r"\[0, 1\]"), (torch.zeros(2, 1, 32, 32), "2 entries"),
    (None, "required")])
def test_pipeline_rejects_bad_maps(toy_controlnet_pipe, bad, match):
    _, pipe = toy_controlnet_pipe
    with pytest.raises((ValueError, TypeError), match=match):
        pipe(["a circle", "a square", "a shape"], image=bad, num_inference_steps=2, progress=False)


def test_one_map_or_one_per_prompt_is_broadcast(toy_controlnet_pipe):
    _, pipe = toy_controlnet_pipe
    m = make_free_shapes(2, seed=1).masks
    kw = dict(num_inference_steps=2, seed=0, progress=False, num_images_per_prompt=2)
    one = pipe(["a circle", "a square"], image=m[:1], **kw).images
    per_prompt = pipe(["a circle", "a square"], image=m, **kw).images
    assert one.shape == per_prompt.shape == (4, 3, 32, 32)


def test_free_shapes_cover_every_outline_and_rotate():
    b = make_free_shapes(300, seed=0)
    assert {a["outline"] for a in b.attributes} == set(OUTLINES)
    assert b.edges.sum() < b.masks.sum() and torch.all(b.edges <= b.masks)
    assert all(c == "" or c.split()[1] == a["color"] for c, a in zip(b.captions, b.attributes))
    centre, r = torch.tensor([[16.0, 16.0]]), torch.tensor([8.0])
    up = draw_outlines(["letter T"], centre, r, torch.tensor([0.0]))
    turned = draw_outlines(["letter T"], centre, r, torch.tensor([torch.pi / 2]))
    assert not torch.equal(up, turned)
    assert torch.equal(up[0].rot90(1, (0, 1)).sum(), turned[0].sum())     # same area


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["edges", "masks"])
def test_shipped_controlnet_follows_the_map_and_keeps_the_colour(kind):
    from diffusionlab.recipes._controlnet import control_scores

    manifest = read_manifest(weights_path(f"controlnet_{kind}"))
    pipe = ControlNetPipeline.pretrained(kind)
    scores = control_scores(pipe, kind, scales=(0.0, 1.0), n=96)
    assert scores[1.0]["iou"] >= 0.8 and scores[1.0]["color_accuracy"] >= 0.95, scores
    assert scores[1.0]["iou"] > scores[0.0]["iou"] + 0.3, scores
    assert scores[1.0]["iou"] == pytest.approx(manifest["scores"]["iou_s1"], abs=0.05)


@pytest.mark.slow
def test_shipped_controlnet_checkpoint_matches_the_unet():
    net = load_checkpoint(ControlNet, weights_path("controlnet_edges"))
    unet = TextToImage.pretrained().unet
    assert net.skip_channels == unet.skip_channels
    assert any(torch.count_nonzero(c.weight) for c in net.zero_convolutions())   # trained
