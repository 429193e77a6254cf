"""Exercise 08: multi-head cross-attention.    Lesson: notebooks/08_cross_attention_clip.ipynb

Write the attention layer that lets Stable Diffusion's U-Net read the prompt, as plain
functions (no nn.Module): queries come from the image tokens ``x`` (B, N, query_dim), keys
and values from the text tokens ``context`` (B, M, context_dim).

Conventions (the same as ``diffusionlab.nn.attention`` and diffusers):

- weight matrices are laid out like ``nn.Linear.weight``: (out_features, in_features), so
  a projection is ``x @ w.T``;
- heads: the inner width ``inner = w_q.shape[0]`` is split into ``heads`` heads of width
  ``d_head = inner // heads``: (B, L, inner) -> (B, heads, L, d_head);
- ``mask`` is a bool (B, M) tensor, True for a real token, False for padding.

Grade it:  python -m diffusionlab grade 08      (or, in a notebook: check("08"))
"""
import math

import torch


def scaled_dot_product(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                       mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention ("Attention is all you need", eq. 1):

        weights = softmax(Q K^T / sqrt(d_head))        softmax over the keys (last dim)
        out     = weights V

    q: (B, h, N, d), k: (B, h, M, d), v: (B, h, M, d_v). Returns (out (B, h, N, d_v),
    weights (B, h, N, M)). With a (B, M) ``mask``, a padding key (False) gets weight exactly 0.

    Hint: ``scores.masked_fill(~mask[:, None, None, :], float("-inf"))`` before the softmax;
    d_head is ``q.shape[-1]``, the width of one head, not of the whole model.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
    weights = scores.softmax(dim=-1)
    return weights @ v, weights


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, L, heads * d_head) -> (B, heads, L, d_head).

    Hint: ``view`` to (B, L, heads, d_head), then ``transpose(1, 2)``.
    """
    B, L, inner = x.shape
    return x.view(B, L, heads, inner // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, heads, L, d_head) -> (B, L, heads * d_head): the inverse of ``split_heads``
    (concatenating the heads)."""
    B, h, L, d = x.shape
    return x.transpose(1, 2).reshape(B, L, h * d)


def cross_attention(x: torch.Tensor, context: torch.Tensor, w_q: torch.Tensor,
                    w_k: torch.Tensor, w_v: torch.Tensor, w_o: torch.Tensor, heads: int,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    """Multi-head cross-attention (Vaswani et al. 2017, section 3.2.2; Rombach et al. 2022, 3.3):

        Q = x W_q^T,  K = c W_k^T,  V = c W_v^T                  project
        head_i = softmax(Q_i K_i^T / sqrt(d_head)) V_i            attend in each head
        out = concat(head_1, ..., head_h) W_o^T                   merge heads, project back

    x: (B, N, query_dim), context: (B, M, context_dim); w_q: (inner, query_dim),
    w_k, w_v: (inner, context_dim), w_o: (query_dim, inner). Returns (B, N, query_dim):
    one row per image token, whatever the prompt length. ``context = x`` gives self-attention.

    Hint: project, ``split_heads``, ``scaled_dot_product`` (pass the mask on), ``merge_heads``,
    then ``@ w_o.T``.
    """
    q = split_heads(x @ w_q.T, heads)
    k = split_heads(context @ w_k.T, heads)
    v = split_heads(context @ w_v.T, heads)
    out, _ = scaled_dot_product(q, k, v, mask)
    return merge_heads(out) @ w_o.T
