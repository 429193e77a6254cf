"""Graded tests for exercises/ex06_unet.py (see conftest.py for how the folder is chosen)."""
import math

import torch
import torch.nn.functional as F

from diffusionlab.grading import expect_close, expect_tensor
from diffusionlab.nn.embeddings import timestep_embedding
from diffusionlab.nn.unet import ResBlock, UNet

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "timestep_embedding": "diffusionlab.nn.embeddings.timestep_embedding",
    "resblock_forward": "diffusionlab.nn.unet.ResBlock.forward",
    "unet_forward": ("diffusionlab.nn.unet.UNet.forward", "diffusionlab.nn.unet.UNet.encode",
                     "diffusionlab.nn.unet.UNet.decode"),
}

T = torch.tensor([0, 1, 17, 250, 999])


def _embedding_hint(got, t, dim):
    """Name the usual mistakes when the embedding is wrong."""
    half = dim // 2
    ref = timestep_embedding(t, dim)
    if torch.allclose(got, torch.cat([ref[:, half:], ref[:, :half]], -1), atol=1e-5):
        return " (looks like sin before cos: Stable Diffusion puts the cos half first)"
    if torch.allclose(got, timestep_embedding(t, dim, downscale_freq_shift=1), atol=1e-5):
        return " (looks like exponents i / (half - 1), DDPM's original; use i / half)"
    if torch.allclose(got, timestep_embedding(t, dim, downscale_freq_shift=1,
                                              flip_sin_to_cos=False), atol=1e-5):
        return " (looks like DDPM's original layout: sin first and i / (half - 1); use " \
               "cos first and i / half)"
    return ""


def test_timestep_embedding_matches_the_library(exercise):
    ex = exercise("ex06_unet")
    for dim in (8, 32):
        t = T.clone()
        got = expect_tensor(f"timestep_embedding(t, {dim})", ex.timestep_embedding(t, dim),
                            (len(T), dim))
        assert torch.equal(t, T), "timestep_embedding changed t in place"
        ref = timestep_embedding(T, dim)
        assert torch.allclose(got.float(), ref, atol=1e-4), \
            f"timestep_embedding(t, {dim}) should be [cos(t f_i), sin(t f_i)] with " \
            f"f_i = 10000^(-i / half)" + _embedding_hint(got.float(), T, dim)


def test_timestep_embedding_properties(exercise):
    ex = exercise("ex06_unet")
    dim, half = 16, 8
    emb = expect_tensor("timestep_embedding", ex.timestep_embedding(torch.tensor([0, 500]), dim),
                        (2, dim))
    expect_close("timestep_embedding at t=0", emb[0],
                 torch.cat([torch.ones(half), torch.zeros(half)]), "cos(0) = 1 then sin(0) = 0")
    expect_close("cos^2 + sin^2", emb[1, :half] ** 2 + emb[1, half:] ** 2, torch.ones(half),
                 "1 for every frequency", atol=1e-4)
    # the first frequency is 1: its sin is sin(t) itself
    expect_close("timestep_embedding at t=500, first sin", emb[1, half],
                 torch.tensor(math.sin(500.0)), "sin(t * 1)", atol=1e-4)
    other = ex.timestep_embedding(torch.tensor([0, 500]), dim, max_period=100.0)
    assert not torch.allclose(other, emb), "timestep_embedding ignores max_period"


def _resblock_case(c_in, c_out, seed):
    torch.manual_seed(seed)
    block = ResBlock(c_in, c_out, temb_dim=16).eval()
    g = torch.Generator().manual_seed(seed)
    return block, torch.randn(2, c_in, 6, 6, generator=g), torch.randn(2, 16, generator=g)


def test_resblock_forward_matches_the_module(exercise):
    ex = exercise("ex06_unet")
    for c_in, c_out in ((8, 8), (8, 12)):
        block, x, temb = _resblock_case(c_in, c_out, seed=c_out)
        with torch.no_grad():
            got = ex.resblock_forward(block, x.clone(), temb.clone())
            ref = block(x, temb)
            no_time = block.conv_shortcut(x) + block.conv2(F.silu(block.norm2(
                block.conv1(F.silu(block.norm1(x))))))
        got = expect_tensor(f"resblock_forward ({c_in} -> {c_out} channels)", got,
                            (2, c_out, 6, 6))
        if torch.allclose(got, no_time, atol=1e-5):
            raise AssertionError("resblock_forward: the time embedding is missing: add "
                                 "time_emb_proj(SiLU(temb))[:, :, None, None] after conv1")
        expect_close(f"resblock_forward ({c_in} -> {c_out} channels)", got, ref,
                     "conv_shortcut(x) + conv2(SiLU(norm2(conv1(SiLU(norm1(x))) + "
                     "time_emb_proj(SiLU(temb)))))")


def _net(use_skips=True):
    torch.manual_seed(0)
    return UNet(base_channels=8, channel_mults=(1, 2), attention_levels=(False, True),
                num_heads=2, use_skips=use_skips).eval()


def _input():
    g = torch.Generator().manual_seed(3)
    return torch.randn(2, 3, 8, 8, generator=g), torch.tensor([5, 700])


def test_unet_forward_matches_the_library(exercise):
    ex = exercise("ex06_unet")
    net, (x, t) = _net(), _input()
    with torch.no_grad():
        got = ex.unet_forward(net, x.clone(), t.clone())
        ref = net(x, t)
        noskip = _net(use_skips=False)(x, t)
    got = expect_tensor("unet_forward", got, ref.shape)
    if torch.allclose(got, noskip, atol=1e-5):
        raise AssertionError("unet_forward: matches the U-Net *without* skips: concatenate each "
                             "popped skip to h (torch.cat([h, s], dim=1)) when use_skips=True")
    expect_close("unet_forward", got, ref,
                 "net(x, t): encoder pushes skips, decoder pops them last in first out")


def test_unet_forward_without_skips(exercise):
    ex = exercise("ex06_unet")
    net, (x, t) = _net(), _input()
    with torch.no_grad():
        got = ex.unet_forward(net, x, t, use_skips=False)
        ref = _net(use_skips=False)(x, t)       # same weights, skips replaced by zeros
    expect_close("unet_forward(use_skips=False)", got, ref,
                 "the same pass with torch.zeros_like(skip) concatenated instead of the skip")


def test_unet_forward_keeps_the_shape_at_other_sizes(exercise):
    ex = exercise("ex06_unet")
    net = _net()
    x = torch.randn(1, 3, 12, 16, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        got = ex.unet_forward(net, x, torch.tensor([300]))
        ref = net(x, torch.tensor([300]))
    expect_close("unet_forward on a 12x16 input", got, ref,
                 "an output of the input's shape (nothing about the size is fixed)")
