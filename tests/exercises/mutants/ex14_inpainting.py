"""Wrong answers learners write for exercise 14, as edits of solutions/ex14_inpainting.py
(format: see ex01_forward.py)."""

_MIX = "return mask * x_prev + (1 - mask) * known"
_ABAR = "abar = schedule.alphas_cumprod[t_prev].to(x_prev.dtype)"
_START = "return num_inference_steps - min(int(num_inference_steps * strength), num_inference_steps)"

MUTANTS = {
    "replace_known: mask convention inverted (1 = keep)": (
        _MIX, "return (1 - mask) * x_prev + mask * known"),
    "replace_known: t_prev = -1 not handled (abar[-1] is the noisiest)": (
        "    if t_prev >= 0:\n        abar", "    if True:\n        abar"),
    "replace_known: missing square roots": (
        "known = abar.sqrt() * known + (1 - abar).sqrt() * noise",
        "known = abar * known + (1 - abar) * noise"),
    "replace_known: the given noise ignored (fresh randn)": (
        "known = abar.sqrt() * known + (1 - abar).sqrt() * noise",
        "known = abar.sqrt() * known + (1 - abar).sqrt() * torch.randn_like(known)"),
    "replace_known: off by one (noised to t_prev + 1)": (
        _ABAR, "abar = schedule.alphas_cumprod[t_prev + 1].to(x_prev.dtype)"),
    "replace_known: alpha_t for alpha-bar_t": (
        _ABAR, "abar = schedule.alphas[t_prev].to(x_prev.dtype)"),
    "replace_known: known region not noised": (
        "        known = abar.sqrt() * known + (1 - abar).sqrt() * noise\n", "        pass\n"),
    "replace_known: noise sign flipped": (
        "known = abar.sqrt() * known + (1 - abar).sqrt() * noise",
        "known = abar.sqrt() * known - (1 - abar).sqrt() * noise"),
    "img2img_start: round instead of int": (
        _START, "return num_inference_steps - min(round(num_inference_steps * strength), "
                "num_inference_steps)"),
    "img2img_start: returns the number of steps run": (
        _START, "return min(int(num_inference_steps * strength), num_inference_steps)"),
    "img2img_start: no check of strength": (
        '    if not 0.0 <= strength <= 1.0:\n        raise ValueError(f"strength must be in [0, 1], got {strength}")\n', ""),
    "img2img_start: a float": (_START, "return num_inference_steps * (1 - strength)"),
}
