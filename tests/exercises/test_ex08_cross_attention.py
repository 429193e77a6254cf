"""Graded tests for exercises/ex08_cross_attention.py (conftest.py says how the folder is chosen)."""
import math

import torch

from diffusionlab.grading import expect_close, expect_tensor
from diffusionlab.nn import attention

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "scaled_dot_product": ("diffusionlab.nn.attention.scaled_dot_product",
                           "torch.nn.functional.scaled_dot_product_attention"),
    "cross_attention": ("diffusionlab.nn.attention.Attention.forward",
                        "diffusionlab.nn.attention.scaled_dot_product",
                        "torch.nn.functional.scaled_dot_product_attention",
                        "torch.nn.functional.multi_head_attention_forward"),
}


def _qkv(B=2, h=3, N=5, M=4, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, h, N, d, generator=g), torch.randn(B, h, M, d, generator=g),
            torch.randn(B, h, M, d, generator=g))


def _mask():
    return torch.tensor([[True, True, False, False], [True, True, True, True]])


def _scale_hint(q, k, weights):
    """Name the usual mistakes when the weights are wrong."""
    d = q.shape[-1]
    for scale, what in ((1.0, "no scaling at all"), (1 / d, "1/d instead of 1/sqrt(d)")):
        if torch.allclose(weights, (q @ k.transpose(-2, -1) * scale).softmax(-1), atol=1e-5):
            return f" (looks like {what})"
    if torch.allclose(weights, (q @ k.transpose(-2, -1) / math.sqrt(d)).softmax(-2), atol=1e-5):
        return " (softmax taken over the queries: it must run over the keys, dim=-1)"
    return ""


def test_scaled_dot_product_matches_eq1(exercise):
    ex = exercise("ex08_cross_attention")
    q, k, v = _qkv()
    got = ex.scaled_dot_product(q.clone(), k.clone(), v.clone())
    assert isinstance(got, tuple) and len(got) == 2, \
        "scaled_dot_product must return a tuple (out, weights)"
    out, weights = got
    ref_out, ref_w = attention.scaled_dot_product(q, k, v)
    weights = expect_tensor("weights", weights, ref_w.shape)
    assert torch.allclose(weights, ref_w, atol=1e-5), \
        "weights should be softmax(Q K^T / sqrt(d_head)) over the keys" + _scale_hint(q, k, weights)
    expect_close("out", out, ref_out, "weights @ V")


def test_weights_rows_sum_to_one_and_the_mask_zeroes_padding(exercise):
    ex = exercise("ex08_cross_attention")
    q, k, v = _qkv()
    out, weights = ex.scaled_dot_product(q, k, v, _mask())
    weights = expect_tensor("weights (with a mask)", weights, (2, 3, 5, 4))
    expect_close("weights.sum(-1)", weights.sum(-1), torch.ones(2, 3, 5),
                 "1 for every query (a softmax over the keys)")
    assert torch.all(weights[0, ..., 2:] == 0), \
        "a masked key (mask False) must get weight exactly 0: fill its score with -inf " \
        "before the softmax"
    ref_out, _ = attention.scaled_dot_product(q, k, v, _mask())
    expect_close("out (with a mask)", out, ref_out, "weights @ V with the padding masked out")


def test_split_and_merge_heads(exercise):
    ex = exercise("ex08_cross_attention")
    x = torch.arange(2 * 5 * 12, dtype=torch.float32).view(2, 5, 12)
    split = expect_tensor("split_heads(x, 3)", ex.split_heads(x.clone(), 3), (2, 3, 5, 4))
    assert torch.equal(split[:, 1, :, :], x[:, :, 4:8]), \
        "split_heads: head 1 should hold features 4..7 of every token (view to (B, L, h, d), " \
        "then transpose(1, 2))"
    merged = expect_tensor("merge_heads(split_heads(x))", ex.merge_heads(split), x.shape)
    assert torch.equal(merged, x), "merge_heads should undo split_heads exactly"


def _layer(query_dim=32, context_dim=16, heads=4):
    torch.manual_seed(0)
    layer = attention.Attention(query_dim, context_dim, heads=heads)
    with torch.no_grad():
        layer.to_out.bias.zero_()                      # the functional version has no bias
    return layer


def _weights(layer):
    return [p.detach().clone() for p in (layer.to_q.weight, layer.to_k.weight,
                                         layer.to_v.weight, layer.to_out.weight)]


def test_cross_attention_matches_the_library(exercise):
    ex = exercise("ex08_cross_attention")
    layer = _layer()
    g = torch.Generator().manual_seed(1)
    x, ctx = torch.randn(2, 6, 32, generator=g), torch.randn(2, 4, 16, generator=g)
    got = ex.cross_attention(x, ctx, *_weights(layer), heads=4)
    with torch.no_grad():
        ref = layer(x, ctx, backend="manual")
        one_head = attention.Attention(32, 16, heads=1)
        one_head.load_state_dict(layer.state_dict())
        single = one_head(x, ctx, backend="manual")
    got = expect_tensor("cross_attention", got, (2, 6, 32))
    if torch.allclose(got, single, atol=1e-5):
        raise AssertionError("cross_attention: matches a single head; split the inner width into "
                             "`heads` heads of d_head = inner // heads and scale by 1/sqrt(d_head)")
    expect_close("cross_attention", got, ref,
                 "concat_i softmax(Q_i K_i^T / sqrt(d_head)) V_i, then @ w_o.T")


def test_cross_attention_mask_and_output_shape(exercise):
    ex = exercise("ex08_cross_attention")
    layer = _layer()
    g = torch.Generator().manual_seed(2)
    x, ctx = torch.randn(2, 9, 32, generator=g), torch.randn(2, 4, 16, generator=g)
    got = expect_tensor("cross_attention (with a mask)",
                        ex.cross_attention(x, ctx, *_weights(layer), heads=4, mask=_mask()),
                        (2, 9, 32))
    with torch.no_grad():
        ref = layer(x, ctx, mask=_mask(), backend="manual")
    expect_close("cross_attention (with a mask)", got, ref, "the padding tokens masked out")
    ctx2 = ctx.clone()
    ctx2[0, 2:] = 100.0
    again = ex.cross_attention(x, ctx2, *_weights(layer), heads=4, mask=_mask())
    expect_close("cross_attention (padding changed)", again, got,
                 "unchanged when only masked tokens change")


def test_cross_attention_on_itself_is_self_attention(exercise):
    ex = exercise("ex08_cross_attention")
    layer = _layer(24, None, heads=3)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 24, generator=g)
    got = ex.cross_attention(x, x, *_weights(layer), heads=3)
    with torch.no_grad():
        ref = layer(x, backend="manual")
    expect_close("cross_attention(x, x, ...)", got, ref, "self-attention when context = x")
