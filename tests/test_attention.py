"""Attention: from-scratch softmax(QK^T/sqrt(d)) V against torch's implementations."""
import math

import pytest
import torch
from torch import nn

from diffusionlab.nn.attention import (Attention, FeedForward, SpatialTransformer,
                                       TransformerBlock, scaled_dot_product)


def _padding_mask():
    return torch.tensor([[True, True, True, False, False],
                         [True, True, True, True, True]])


def test_scaled_dot_product_matches_einsum_and_sdpa():
    q, k, v = torch.randn(2, 3, 7, 8), torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 6)
    out, w = scaled_dot_product(q, k, v)
    logits = torch.einsum("bhnd,bhmd->bhnm", q, k) / math.sqrt(8)
    ref_w = torch.exp(logits) / torch.exp(logits).sum(-1, keepdim=True)
    torch.testing.assert_close(w, ref_w, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out, torch.einsum("bhnm,bhmd->bhnd", ref_w, v), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out, nn.functional.scaled_dot_product_attention(q, k, v),
                               atol=1e-5, rtol=1e-5)


def test_rows_sum_to_one_and_masked_keys_get_zero_weight():
    q, k, v = torch.randn(2, 2, 4, 8), torch.randn(2, 2, 5, 8), torch.randn(2, 2, 5, 8)
    mask = _padding_mask()
    out, w = scaled_dot_product(q, k, v, mask)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 4))
    assert torch.all(w[0, :, :, 3:] == 0)
    assert torch.all(w[1] > 0)
    # a masked key's value cannot leak into the output
    v2 = v.clone()
    v2[0, :, 3:] = 1e3
    torch.testing.assert_close(scaled_dot_product(q, k, v2, mask)[0], out)


@pytest.mark.parametrize("context_dim", [None, 24])
def test_manual_and_sdpa_backends_agree(context_dim):
    attn = Attention(32, context_dim, heads=4)
    x = torch.randn(2, 9, 32)
    ctx = None if context_dim is None else torch.randn(2, 5, context_dim)
    mask = None if context_dim is None else _padding_mask()
    a = attn(x, ctx, mask=mask, backend="sdpa")
    b = attn(x, ctx, mask=mask, backend="manual")
    c, w = attn(x, ctx, mask=mask, return_attn=True)
    assert (a - b).abs().max() < 1e-5
    assert torch.equal(b, c)
    assert w.shape == (2, 4, 9, 9 if context_dim is None else 5)
    assert torch.equal(attn.last_attn, w)


def test_self_attention_equals_torch_multihead_attention():
    attn = Attention(32, heads=4)
    mha = nn.MultiheadAttention(32, 4, bias=True, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([attn.to_q.weight, attn.to_k.weight, attn.to_v.weight]))
        mha.in_proj_bias.zero_()
        mha.out_proj.weight.copy_(attn.to_out.weight)
        mha.out_proj.bias.copy_(attn.to_out.bias)
    x = torch.randn(3, 6, 32)
    ref, ref_w = mha(x, x, x, need_weights=True, average_attn_weights=False)
    out, w = attn(x, return_attn=True)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w, ref_w, atol=1e-6, rtol=1e-5)


def test_cross_attention_equals_torch_multihead_attention_with_padding():
    attn = Attention(32, context_dim=16, heads=4)
    mha = nn.MultiheadAttention(32, 4, bias=True, kdim=16, vdim=16, batch_first=True)
    with torch.no_grad():
        mha.q_proj_weight.copy_(attn.to_q.weight)
        mha.k_proj_weight.copy_(attn.to_k.weight)
        mha.v_proj_weight.copy_(attn.to_v.weight)
        mha.in_proj_bias.zero_()
        mha.out_proj.weight.copy_(attn.to_out.weight)
        mha.out_proj.bias.copy_(attn.to_out.bias)
    x, ctx, mask = torch.randn(2, 6, 32), torch.randn(2, 5, 16), _padding_mask()
    # torch's key_padding_mask is True where a key is *ignored*: the opposite of ours
    ref, _ = mha(x, ctx, ctx, key_padding_mask=~mask)
    torch.testing.assert_close(attn(x, ctx, mask=mask), ref, atol=1e-5, rtol=1e-5)


def test_scale_is_one_over_sqrt_head_dim():
    attn = Attention(64, heads=8)
    assert attn.dim_head == 8
    x = torch.randn(1, 5, 64)
    _, w = attn(x, return_attn=True)
    q = attn.to_q(x).view(1, 5, 8, 8).transpose(1, 2)
    k = attn.to_k(x).view(1, 5, 8, 8).transpose(1, 2)
    torch.testing.assert_close(w, (q @ k.transpose(-2, -1) / math.sqrt(8)).softmax(-1))


def test_cross_attention_output_follows_x_not_context():
    attn = Attention(32, context_dim=48, heads=2, dim_head=20)
    for m in (1, 7, 77):
        out = attn(torch.randn(3, 16, 32), torch.randn(3, m, 48))
        assert out.shape == (3, 16, 32)
    # and it depends on the context
    x = torch.randn(1, 4, 32)
    assert not torch.allclose(attn(x, torch.randn(1, 3, 48)), attn(x, torch.randn(1, 3, 48)))


def test_store_attn_records_weights():
    attn = Attention(16, heads=2)
    attn.store_attn = True
    attn(torch.randn(1, 3, 16))
    assert attn.last_attn.shape == (1, 2, 3, 3)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="heads .* must divide query_dim"):
        Attention(30, heads=4)
    Attention(30, heads=4, dim_head=8)  # fine when dim_head is explicit
    attn = Attention(32, context_dim=16, heads=4)
    with pytest.raises(ValueError, match="x must have 32 features"):
        attn(torch.randn(2, 5, 31), torch.randn(2, 3, 16))
    with pytest.raises(ValueError, match="context must have 16 features"):
        attn(torch.randn(2, 5, 32), torch.randn(2, 3, 32))
    with pytest.raises(ValueError, match="pass context"):
        attn(torch.randn(2, 5, 32))
    with pytest.raises(ValueError, match="same batch size"):
        attn(torch.randn(2, 5, 32), torch.randn(3, 3, 16))
    with pytest.raises(ValueError, match="x must have 3 dimensions"):
        attn(torch.randn(2, 32), torch.randn(2, 3, 16))
    with pytest.raises(ValueError, match="backend must be one of"):
        attn(torch.randn(2, 5, 32), torch.randn(2, 3, 16), backend="flash")
    with pytest.raises(ValueError, match=r"2-D mask must have shape \(batch, keys\)"):
        attn(torch.randn(2, 5, 32), torch.randn(2, 3, 16), mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask must be a bool"):
        attn(torch.randn(2, 5, 32), torch.randn(2, 3, 16), mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match="hides every key"):
        attn(torch.randn(2, 5, 32), torch.randn(2, 3, 16), mask=torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="head width"):
        scaled_dot_product(torch.randn(1, 1, 2, 4), torch.randn(1, 1, 3, 5),
                           torch.randn(1, 1, 3, 5))


def test_transformer_block_and_spatial_transformer():
    block = TransformerBlock(32, context_dim=16, heads=4)
    x, ctx = torch.randn(2, 10, 32), torch.randn(2, 5, 16)
    assert block(x, ctx, mask=_padding_mask()).shape == x.shape
    with pytest.raises(ValueError, match="pass context"):
        block(x)
    with pytest.raises(ValueError, match="no cross-attention"):
        TransformerBlock(32)(x, ctx)
    assert FeedForward(32, activation="gelu")(x).shape == x.shape

    st = SpatialTransformer(32, context_dim=16, heads=4, depth=2)
    fmap = torch.randn(2, 32, 4, 4)
    out = st(fmap, ctx, mask=_padding_mask())
    assert out.shape == fmap.shape
    # padding tokens do not matter under the mask
    ctx2 = ctx.clone()
    ctx2[0, 3:] = torch.randn(2, 16)
    torch.testing.assert_close(st(fmap, ctx2, mask=_padding_mask()), out)
    # zero_init makes the whole block the identity at initialisation
    st0 = SpatialTransformer(32, context_dim=16, zero_init=True)
    torch.testing.assert_close(st0(fmap, ctx), fmap)
    with pytest.raises(ValueError, match="x must have 32 channels"):
        st(torch.randn(2, 16, 4, 4), ctx)
