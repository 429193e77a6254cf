"""Graded tests for exercises/ex12_lora.py (see conftest.py for how the folder is chosen)."""
import math

import torch

from diffusionlab.grading import expect_close, expect_tensor
from diffusionlab.nn.lora import LoRALinear

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "init_lora": ("diffusionlab.nn.lora.LoRALayer.add_adapter",),
    "lora_forward": ("diffusionlab.nn.lora.LoRALayer.forward",),
    "merge_weight": ("diffusionlab.nn.lora.LoRALinear.delta_weight",
                     "diffusionlab.nn.lora.LoRALayer.merge"),
}


def _layer(d_in=12, d_out=7, rank=3, alpha=6.0, seed=0):
    """A library LoRALinear with a trained-looking B (B != 0) and its tensors."""
    torch.manual_seed(seed)
    layer = LoRALinear(torch.nn.Linear(d_in, d_out), rank=rank, alpha=alpha)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        layer.lora_B["default"].weight.copy_(torch.randn(d_out, rank, generator=g))
    W, b = layer.base.weight.detach().clone(), layer.base.bias.detach().clone()
    A = layer.lora_A["default"].weight.detach().clone()
    B = layer.lora_B["default"].weight.detach().clone()
    return layer, W, b, A, B


def test_init_shapes_zero_B_and_random_A(exercise):
    ex = exercise("ex12_lora")
    for d_in, d_out, r in ((12, 7, 3), (64, 32, 1), (16, 16, 8)):
        A, B = ex.init_lora(d_in, d_out, r)
        expect_tensor(f"A of init_lora({d_in}, {d_out}, {r})", A, (r, d_in))
        expect_tensor(f"B of init_lora({d_in}, {d_out}, {r})", B, (d_out, r))
        assert A.requires_grad and B.requires_grad, \
            "init_lora: A and B are what trains: both need requires_grad=True"
        assert int(torch.count_nonzero(B)) == 0, \
            f"init_lora: B must start at exactly 0 (so B A = 0), got max |B| " \
            f"{float(B.detach().abs().max()):.3g}"
        assert int(torch.count_nonzero(A)) == A.numel(), \
            "init_lora: A must be random (not zero): with A = 0 and B = 0 no gradient reaches " \
            "either of them"
        bound = 1 / math.sqrt(d_in)
        top = float(A.detach().abs().max())
        assert top <= bound + 1e-6, \
            f"init_lora: kaiming-uniform(a=sqrt 5) stays within +-1/sqrt(d_in) = {bound:.3g}, " \
            f"got max |A| {top:.3g}"
    A, _ = ex.init_lora(256, 8, 16)
    spread = float(A.detach().std())
    want = 1 / math.sqrt(3 * 256)                 # std of U(-1/sqrt(d_in), 1/sqrt(d_in))
    assert abs(spread - want) < 0.15 * want, \
        f"init_lora: A's spread should be that of U(+-1/sqrt(d_in)) (std {want:.4f}), " \
        f"got std {spread:.4f}: check the bound (fan_in is d_in)"


def test_forward_matches_the_library(exercise):
    ex = exercise("ex12_lora")
    for rank, alpha in ((3, 6.0), (1, 1.0), (4, 2.0)):
        layer, W, b, A, B = _layer(rank=rank, alpha=alpha)
        x = torch.randn(2, 5, 12)
        for s in (1.0, 0.4):
            layer.scale["default"] = s
            with torch.no_grad():
                want = layer(x)
            got = ex.lora_forward(x, W, b, A, B, alpha, s)
            expect_close(f"lora_forward(rank={rank}, alpha={alpha}, scale={s})",
                         expect_tensor("lora_forward", got, want.shape), want,
                         "W x + b + s (alpha / r) B A x with r = A.shape[0]")


def test_fresh_adapter_changes_nothing(exercise):
    ex = exercise("ex12_lora")
    torch.manual_seed(3)
    base = torch.nn.Linear(10, 6)
    A, B = ex.init_lora(10, 6, 4)
    x = torch.randn(8, 10)
    with torch.no_grad():
        got = ex.lora_forward(x, base.weight, base.bias, A, B, 4.0)
        assert torch.equal(got, base(x)) or torch.allclose(got, base(x), atol=0, rtol=1e-7), \
            "a fresh adapter (B = 0) must leave the layer's output unchanged"


def test_merge_matches_and_equals_unmerged(exercise):
    ex = exercise("ex12_lora")
    for rank, alpha, s in ((3, 6.0, 1.0), (2, 2.0, 0.7), (5, 1.0, 1.0)):
        layer, W, b, A, B = _layer(rank=rank, alpha=alpha, seed=rank)
        W_before = W.clone()
        merged = ex.merge_weight(W, A, B, alpha, s)
        assert torch.equal(W, W_before), "merge_weight changed W in place: return a new tensor"
        with torch.no_grad():
            want = layer.base.weight + s * layer.delta_weight()
        expect_close(f"merge_weight(rank={rank}, alpha={alpha}, scale={s})",
                     expect_tensor("merge_weight", merged, W.shape), want,
                     "W + s (alpha / r) B A")
        x = torch.randn(4, 12)
        with torch.no_grad():
            layer.scale["default"] = s
            unmerged = layer(x)
        expect_close("x W'^T + b with your merged W'", x @ merged.T + b, unmerged,
                     "merged must equal unmerged: the same s (alpha / r) B A in both")
