"""Wrong answers learners write for exercise 08, as edits of
solutions/ex08_cross_attention.py (format: see ex01_forward.py)."""

MUTANTS = {
    "scaled_dot_product: scaled by the model width (heads x d_head)": (
        "/ math.sqrt(q.shape[-1])", "/ math.sqrt(q.shape[1] * q.shape[-1])"),
    "scaled_dot_product: no scaling": ("/ math.sqrt(q.shape[-1])", ""),
    "scaled_dot_product: 1/d instead of 1/sqrt(d)": ("/ math.sqrt(q.shape[-1])", "/ q.shape[-1]"),
    "scaled_dot_product: softmax over the queries": (
        "scores.softmax(dim=-1)", "scores.softmax(dim=-2)"),
    "scaled_dot_product: mask inverted": (
        "scores = scores.masked_fill(~mask[", "scores = scores.masked_fill(mask["),
    "scaled_dot_product: padding filled with 0, not -inf": (
        'scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))',
        "scores = scores.masked_fill(~mask[:, None, None, :], 0.0)"),
    "scaled_dot_product: mask ignored": (
        "    if mask is not None:\n        scores = scores.masked_fill",
        "    if False:\n        scores = scores.masked_fill"),
    "scaled_dot_product: torch's fused attention": (
        "    weights = scores.softmax(dim=-1)\n    return weights @ v, weights",
        "    weights = scores.softmax(dim=-1)\n    return torch.nn.functional."
        "scaled_dot_product_attention(q, k, v), weights"),
    "split_heads: view without transpose": (
        "return x.view(B, L, heads, inner // heads).transpose(1, 2)",
        "return x.view(B, heads, L, inner // heads)"),
    "merge_heads: reshape without transpose": (
        "return x.transpose(1, 2).reshape(B, L, h * d)", "return x.reshape(B, L, h * d)"),
    "cross_attention: w_o not applied": (
        "return merge_heads(out) @ w_o.T", "return merge_heads(out)"),
    "cross_attention: mask not passed on": (
        "scaled_dot_product(q, k, v, mask)", "scaled_dot_product(q, k, v)"),
    "cross_attention: one head (heads ignored)": [
        ("split_heads(x @ w_q.T, heads)", "split_heads(x @ w_q.T, 1)"),
        ("split_heads(context @ w_k.T, heads)", "split_heads(context @ w_k.T, 1)"),
        ("split_heads(context @ w_v.T, heads)", "split_heads(context @ w_v.T, 1)")],
    "cross_attention: projections without transpose": ("x @ w_q.T", "x @ w_q"),
}
