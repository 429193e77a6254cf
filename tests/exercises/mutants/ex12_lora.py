"""Wrong answers learners write for exercise 12, as edits of solutions/ex12_lora.py
(format: see ex01_forward.py)."""

_FWD = "return x @ W.T + b + scale * (alpha / r) * ((x @ A.T) @ B.T)"
_MERGE = "return W + scale * (alpha / r) * (B @ A)"

MUTANTS = {
    "init_lora: B random, A zero (the roles swapped)": (
        "    A = torch.empty(rank, d_in)\n    torch.nn.init.kaiming_uniform_(A, a=math.sqrt(5))\n"
        "    B = torch.zeros(d_out, rank)\n",
        "    A = torch.zeros(rank, d_in)\n    B = torch.empty(d_out, rank)\n"
        "    torch.nn.init.kaiming_uniform_(B, a=math.sqrt(5))\n"),
    "init_lora: both zero": ("    torch.nn.init.kaiming_uniform_(A, a=math.sqrt(5))\n",
                             "    torch.nn.init.zeros_(A)\n"),
    "init_lora: A standard normal": ("    torch.nn.init.kaiming_uniform_(A, a=math.sqrt(5))\n",
                                     "    torch.nn.init.normal_(A)\n"),
    "init_lora: A shaped (d_in, rank)": ("A = torch.empty(rank, d_in)",
                                         "A = torch.empty(d_in, rank)"),
    "init_lora: not trainable": ("return A.requires_grad_(True), B.requires_grad_(True)",
                                 "return A, B"),
    "lora_forward: scaling alpha forgotten": (_FWD, "return x @ W.T + b + scale * ((x @ A.T) @ B.T)"),
    "lora_forward: r / alpha instead of alpha / r": (
        _FWD, "return x @ W.T + b + scale * (r / alpha) * ((x @ A.T) @ B.T)"),
    "lora_forward: strength ignored": (_FWD, "return x @ W.T + b + (alpha / r) * ((x @ A.T) @ B.T)"),
    "lora_forward: bias forgotten": (_FWD, "return x @ W.T + scale * (alpha / r) * ((x @ A.T) @ B.T)"),
    "lora_forward: r taken from the wrong dimension": ("    r = A.shape[0]\n    return x @ W.T",
                                                       "    r = A.shape[1]\n    return x @ W.T"),
    "merge_weight: A B instead of B A (transposed update)": (
        _MERGE, "return W + scale * (alpha / r) * (B @ A).T.reshape(W.shape)"),
    "merge_weight: in place": (_MERGE, "W += scale * (alpha / r) * (B @ A)\n    return W"),
    "merge_weight: scaling forgotten": (_MERGE, "return W + scale * (B @ A)"),
    "merge_weight: strength ignored": (_MERGE, "return W + (alpha / r) * (B @ A)"),
}
