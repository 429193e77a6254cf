"""Multi-head attention (self and cross), the transformer block and the spatial
transformer that Stable Diffusion's U-Net puts at each resolution.

Scaled dot-product attention ("Attention is all you need", Vaswani et al. 2017, eq. 1):

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_head)) V

Multi-head attention (same paper, section 3.2.2): project, split into h heads, attend
in each head, concatenate, project back:

    head_i   = Attention(x W_q^i, c W_k^i, c W_v^i)
    MHA(x,c) = concat(head_1, ..., head_h) W_o

Self-attention takes the keys and values from the same tokens as the queries (c = x);
cross-attention takes them from a *context*: in Stable Diffusion the queries are image
tokens (one per latent pixel) and the keys/values are the CLIP text encoder's hidden
states, one per prompt token (High-Resolution Image Synthesis with Latent Diffusion
Models, Rombach et al. 2022, section 3.3). The output has one row per *query*, so
cross-attention returns something shaped like the image, whatever the prompt length.

The scale is 1/sqrt(d_head), the width of one head, not the model width: with unit-variance
entries a dot product of d_head terms has variance d_head, and dividing by its square
root keeps the logits at unit scale whatever the head count.

Names follow diffusers (``to_q``, ``to_k``, ``to_v``, ``to_out``; ``BasicTransformerBlock``
is ``TransformerBlock`` here; ``Transformer2DModel`` / LDM's ``SpatialTransformer`` is
``SpatialTransformer``) so a learner can read diffusers' attention_processor.py next.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_choice, check_int, check_tensor
from .blocks import group_norm

BACKENDS = ("sdpa", "manual")


def _check_mask(mask, batch: int, heads: int, n_query: int, n_key: int,
                device: torch.device) -> torch.Tensor | None:
    """Turn a key-padding mask into a bool tensor broadcastable to (B, h, N, M).

    ``mask`` is True where a key may be attended to (a real token) and False for
    padding. A (B, M) mask is the usual case (the tokenizer's attention_mask); any
    tensor broadcastable to (B, h, N, M) is accepted too. Integer 0/1 masks (as
    tokenizers return them) are converted to bool.
    """
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor (bool, True = attend), "
                        f"got {type(mask).__name__}")
    if mask.is_floating_point() or mask.is_complex():
        raise TypeError(f"mask must be a bool (or 0/1 integer) tensor with True = attend, "
                        f"got dtype {mask.dtype}")
    mask = mask.to(device=device, dtype=torch.bool)
    if mask.ndim == 2:
        if mask.shape != (batch, n_key):
            raise ValueError(f"a 2-D mask must have shape (batch, keys) = {(batch, n_key)}, "
                             f"got {tuple(mask.shape)}")
        mask = mask[:, None, None, :]
    elif mask.ndim == 4:
        try:
            torch.broadcast_shapes(mask.shape, (batch, heads, n_query, n_key))
        except RuntimeError:
            raise ValueError(f"a 4-D mask must broadcast to (batch, heads, queries, keys) = "
                             f"{(batch, heads, n_query, n_key)}, got {tuple(mask.shape)}") from None
    else:
        raise ValueError(f"mask must have shape (batch, keys) or be broadcastable to "
                         f"(batch, heads, queries, keys), got shape {tuple(mask.shape)}")
    if not mask.expand(batch, heads, n_query, n_key).any(dim=-1).all():
        raise ValueError("mask hides every key for some query (an all-False row): softmax over "
                         "nothing is undefined; keep at least one token (e.g. the bos token)")
    return mask


def _check_qkv(q, k, v) -> None:
    check_tensor("q", q, ndim=4)
    check_tensor("k", k, ndim=4)
    check_tensor("v", v, ndim=4)
    if k.shape[:3] != v.shape[:3]:
        raise ValueError(f"k and v must agree on (batch, heads, keys), got {tuple(k.shape)} "
                         f"and {tuple(v.shape)}")
    if q.shape[:2] != k.shape[:2]:
        raise ValueError(f"q and k must agree on (batch, heads), got {tuple(q.shape)} "
                         f"and {tuple(k.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same head width d, got {q.shape[-1]} "
                         f"and {k.shape[-1]}")


def scaled_dot_product(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                       mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q K^T / sqrt(d)) V, written out (Vaswani et al. 2017, eq. 1).

    Args:
        q: (B, h, N, d) queries.  k: (B, h, M, d) keys.  v: (B, h, M, d_v) values.
        mask: optional bool, True = may attend; (B, M) or broadcastable to (B, h, N, M).
            Masked keys get a logit of -inf, hence a weight of exactly 0.
    Returns:
        (out (B, h, N, d_v), weights (B, h, N, M)); each row of ``weights`` sums to 1.
    """
    _check_qkv(q, k, v)
    B, h, N, d = q.shape
    mask = _check_mask(mask, B, h, N, k.shape[2], q.device)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)          # Q K^T / sqrt(d_head)   (eq. 1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))      # padding: exp(-inf) = 0
    weights = scores.softmax(dim=-1)                           # softmax over the keys  (eq. 1)
    return weights @ v, weights                                # weighted sum of values (eq. 1)


class Attention(nn.Module):
    """Multi-head self- or cross-attention (Vaswani et al. 2017, section 3.2.2).

    Args:
        query_dim: width of the tokens ``x`` that ask (image tokens in the U-Net).
        context_dim: width of the tokens that answer; None means self-attention
            (keys and values come from ``x`` itself).
        heads: number of heads h.
        dim_head: width of one head; default ``query_dim // heads`` (then ``heads`` must
            divide ``query_dim``). The inner width is ``heads * dim_head``.
        bias: bias in to_q / to_k / to_v (SD uses none). ``to_out`` always has one.

    Attributes:
        store_attn: when True, every forward keeps the attention weights in ``last_attn``
            (B, heads, N, M) for visualisation (forces the manual path).
    """

    def __init__(self, query_dim: int, context_dim: int | None = None, heads: int = 4,
                 dim_head: int | None = None, bias: bool = False):
        super().__init__()
        query_dim = check_int("query_dim", query_dim, minimum=1)
        heads = check_int("heads", heads, minimum=1)
        if context_dim is not None:
            context_dim = check_int("context_dim", context_dim, minimum=1)
        if dim_head is None:
            if query_dim % heads != 0:
                raise ValueError(f"heads ({heads}) must divide query_dim ({query_dim}) when "
                                 f"dim_head is not given; pass dim_head explicitly")
            dim_head = query_dim // heads
        dim_head = check_int("dim_head", dim_head, minimum=1)
        self.query_dim, self.context_dim = query_dim, context_dim
        self.heads, self.dim_head = heads, dim_head
        self.is_cross = context_dim is not None
        inner = heads * dim_head
        kv_dim = query_dim if context_dim is None else context_dim
        self.to_q = nn.Linear(query_dim, inner, bias=bias)
        self.to_k = nn.Linear(kv_dim, inner, bias=bias)
        self.to_v = nn.Linear(kv_dim, inner, bias=bias)
        self.to_out = nn.Linear(inner, query_dim)
        self.store_attn = False
        self.last_attn: torch.Tensor | None = None

    def extra_repr(self) -> str:
        kind = "cross" if self.is_cross else "self"
        return f"{kind}-attention, heads={self.heads}, dim_head={self.dim_head}"

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        B, L, _ = t.shape                                       # (B, L, h*d) -> (B, h, L, d)
        return t.view(B, L, self.heads, self.dim_head).transpose(1, 2)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, return_attn: bool = False,
                backend: str = "sdpa"):
        """x (B, N, query_dim), context (B, M, context_dim) or None -> (B, N, query_dim).

        ``mask`` (B, M) bool marks the context tokens that may be attended to (True) and
        the padding (False). ``backend="sdpa"`` calls torch's fused
        ``F.scaled_dot_product_attention``; ``"manual"`` calls :func:`scaled_dot_product`.
        ``return_attn=True`` (or ``store_attn``) takes the manual path and also returns
        the weights (B, heads, N, M).
        """
        check_choice("backend", backend, BACKENDS)
        check_tensor("x", x, ndim=3)
        if x.shape[-1] != self.query_dim:
            raise ValueError(f"x must have {self.query_dim} features in its last dimension "
                             f"(query_dim), got shape {tuple(x.shape)}")
        if context is None:
            if self.is_cross and self.context_dim != self.query_dim:
                raise ValueError(f"this is cross-attention with context_dim={self.context_dim}: "
                                 f"pass context of shape (B, M, {self.context_dim})")
            context = x
        else:
            check_tensor("context", context, ndim=3)
            kv_dim = self.context_dim if self.is_cross else self.query_dim
            if context.shape[-1] != kv_dim:
                raise ValueError(f"context must have {kv_dim} features in its last dimension "
                                 f"(context_dim), got shape {tuple(context.shape)}")
            if context.shape[0] != x.shape[0]:
                raise ValueError(f"x and context must have the same batch size, got "
                                 f"{x.shape[0]} and {context.shape[0]}")
        B, N, _ = x.shape
        q = self._split(self.to_q(x))                           # x W_q
        k = self._split(self.to_k(context))                     # c W_k
        v = self._split(self.to_v(context))                     # c W_v
        mask = _check_mask(mask, B, self.heads, N, k.shape[2], x.device)
        weights = None
        if return_attn or self.store_attn or backend == "manual":
            out, weights = scaled_dot_product(q, k, v, mask)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(B, N, self.heads * self.dim_head)  # concat heads
        out = self.to_out(out)                                  # ... W_o
        if weights is not None and (self.store_attn or return_attn):
            self.last_attn = weights.detach()
        return (out, weights) if return_attn else out


class GEGLU(nn.Module):
    """GELU-gated linear unit (Shazeer 2020, "GLU variants improve Transformer", eq. 6):
    GEGLU(x) = (x W) * GELU(x V), the two projections stored as one Linear named ``proj``."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, 2 * dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    """Position-wise MLP: dim -> mult*dim -> dim, with a GEGLU (SD's choice) or GELU."""

    def __init__(self, dim: int, mult: int = 4, activation: str = "geglu"):
        super().__init__()
        dim = check_int("dim", dim, minimum=1)
        mult = check_int("mult", mult, minimum=1)
        check_choice("activation", activation, ("geglu", "gelu"))
        inner = dim * mult
        act = GEGLU(dim, inner) if activation == "geglu" else nn.Sequential(nn.Linear(dim, inner),
                                                                           nn.GELU())
        self.net = nn.Sequential(act, nn.Linear(inner, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TransformerBlock(nn.Module):
    """diffusers' ``BasicTransformerBlock`` at toy scale (pre-norm, residual):

        x = x + attn1(norm1(x))              self-attention: image tokens talk to each other
        x = x + attn2(norm2(x), context)     cross-attention: image tokens read the prompt
        x = x + ff(norm3(x))                 position-wise MLP

    ``attn2`` exists only when ``context_dim`` is given; a block built with it needs a
    context (the empty prompt's states are the unconditional context, not None).
    """

    def __init__(self, dim: int, context_dim: int | None = None, heads: int = 4,
                 dim_head: int | None = None, ff_mult: int = 4, activation: str = "geglu"):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, None, heads=heads, dim_head=dim_head)
        self.context_dim = context_dim
        if context_dim is not None:
            self.norm2 = nn.LayerNorm(dim)
            self.attn2 = Attention(dim, context_dim, heads=heads, dim_head=dim_head)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, mult=ff_mult, activation=activation)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn1(self.norm1(x))
        if self.context_dim is not None:
            if context is None:
                raise ValueError(f"this block cross-attends: pass context of shape "
                                 f"(B, M, {self.context_dim}) (use the empty prompt's states "
                                 f"for the unconditional branch)")
            x = x + self.attn2(self.norm2(x), context, mask=mask)
        elif context is not None:
            raise ValueError("context was given but this block has no cross-attention "
                             "(built with context_dim=None)")
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    """Transformer over the pixels of a feature map (LDM's SpatialTransformer, diffusers'
    ``Transformer2DModel``): GroupNorm -> 1x1 proj_in -> (B, H*W, C) tokens -> blocks ->
    back to (B, C, H, W) -> 1x1 proj_out -> + residual.

    Args:
        channels: C of the feature map (also the token width).
        context_dim: width of the context tokens (text hidden states); None = self-attention only.
        heads, depth: heads per attention, number of TransformerBlocks.
        dim_head: width of one head (default channels // heads).
        zero_init: start proj_out at zero so the block is the identity at initialisation
            (what the original LDM code does); default False.
        norm_groups: the input GroupNorm's groups; None: up to 32, as SD's U-Net (whose
            widths make that 32 everywhere).
    """

    def __init__(self, channels: int, context_dim: int | None = None, heads: int = 4,
                 depth: int = 1, dim_head: int | None = None, zero_init: bool = False,
                 norm_groups: int | None = None):
        super().__init__()
        channels = check_int("channels", channels, minimum=1)
        depth = check_int("depth", depth, minimum=1)
        self.channels, self.context_dim = channels, context_dim
        if norm_groups is None:
            self.norm = group_norm(channels, max_groups=32)
        else:
            norm_groups = check_int("norm_groups", norm_groups, minimum=1)
            if channels % norm_groups:
                raise ValueError(f"norm_groups ({norm_groups}) must divide channels ({channels})")
            self.norm = nn.GroupNorm(norm_groups, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.blocks = nn.ModuleList(TransformerBlock(channels, context_dim, heads=heads,
                                                     dim_head=dim_head) for _ in range(depth))
        self.proj_out = nn.Conv2d(channels, channels, 1)
        if zero_init:
            nn.init.zeros_(self.proj_out.weight)
            nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        check_tensor("x", x, ndim=4)
        if x.shape[1] != self.channels:
            raise ValueError(f"x must have {self.channels} channels, got shape {tuple(x.shape)}")
        B, C, H, W = x.shape
        h = self.proj_in(self.norm(x))
        h = h.flatten(2).transpose(1, 2)                        # (B, C, H, W) -> (B, H*W, C)
        for block in self.blocks:
            h = block(h, context, mask=mask)
        h = h.transpose(1, 2).reshape(B, C, H, W)               # tokens -> feature map
        return x + self.proj_out(h)
