"""Wrong answers learners write for exercise 09, as edits of solutions/ex09_guidance.py
(format: see ex01_forward.py)."""

_CFG = "return eps_uncond + scale * (eps_cond - eps_uncond)"

MUTANTS = {
    "cfg: guidance on the wrong term": (_CFG, "return eps_cond + scale * (eps_cond - eps_uncond)"),
    "cfg: the paper's w used as s": (
        _CFG, "return eps_uncond + (scale - 1) * (eps_cond - eps_uncond)"),
    "cfg: sign reversed": (_CFG, "return eps_uncond + scale * (eps_uncond - eps_cond)"),
    "cfg: branches swapped": (_CFG, "return eps_cond + scale * (eps_uncond - eps_cond)"),
    "rescale_guidance: std over the whole batch": (
        "std_cond = eps_cond.std(dim=dims, keepdim=True)\n"
        "    std_cfg = eps_cfg.std(dim=dims, keepdim=True)",
        "std_cond = eps_cond.std()\n    std_cfg = eps_cfg.std()"),
    "rescale_guidance: ratio upside down": (
        "eps_cfg * (std_cond / std_cfg)", "eps_cfg * (std_cfg / std_cond)"),
    "rescale_guidance: phi mixing reversed": (
        "return guidance_rescale * rescaled + (1.0 - guidance_rescale) * eps_cfg",
        "return (1.0 - guidance_rescale) * rescaled + guidance_rescale * eps_cfg"),
    "rescale_guidance: rescales eps_cond": (
        "rescaled = eps_cfg * (std_cond / std_cfg)", "rescaled = eps_cond * (std_cond / std_cfg)"),
    "guided_eps: two model calls": (
        "    out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([uncond, cond]))\n"
        "    eps_uncond, eps_cond = out.chunk(2)",
        "    eps_uncond = model(x, t, uncond)\n    eps_cond = model(x, t, cond)"),
    "guided_eps: halves swapped (CFG on the wrong term)": (
        "torch.cat([uncond, cond])", "torch.cat([cond, uncond])"),
    "guided_eps: scale ignored": (
        "    eps_uncond, eps_cond = out.chunk(2)\n    return cfg(eps_uncond, eps_cond, scale)",
        "    eps_uncond, eps_cond = out.chunk(2)\n    return eps_cond"),
    "guided_eps: the library's guided()": (
        "    out = model(torch.cat([x, x])",
        "    from diffusionlab.guidance import guided\n"
        "    return guided(model, cond, uncond, scale)(x, t)\n    out = model(torch.cat([x, x])"),
}
