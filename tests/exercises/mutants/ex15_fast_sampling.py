"""Wrong answers learners write for exercise 15, as edits of solutions/ex15_fast_sampling.py
(format: see ex01_forward.py)."""

MUTANTS = {
    "dpm: lambda as log-SNR (no half)": (
        "return alpha, sigma, torch.log(alpha / sigma)",
        "return alpha, sigma, torch.log(alpha ** 2 / sigma ** 2)"),
    "dpm: h with the wrong sign": ("h = lam_p - lam_t", "h = lam_t - lam_p"),
    "dpm: r without dividing by h": ("r = (lam_t - lam_last) / h", "r = (lam_t - lam_last)"),
    "dpm: 1/r instead of 1/(2r)": (
        "D = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * prev_x0", "D = (1 + 1 / r) * x0 - 1 / r * prev_x0"),
    "dpm: exp(-h) instead of exp(-h) - 1": ("torch.expm1(-h)", "torch.exp(-h)"),
    "dpm: second order at the final step": (
        "    if t_prev < 0:\n        return x0, x0\n",
        "    if t_prev < 0:\n        D = x0 if prev_x0 is None else 1.5 * x0 - 0.5 * prev_x0\n"
        "        return D, x0\n"),
    "dpm: sigma ratio upside down": ("sigma_p / sigma_t * x_t", "sigma_t / sigma_p * x_t"),
    "lcd: guidance on the wrong side": (
        "eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond)",
        "eps = eps_cond + guidance_scale * (eps_uncond - eps_cond)"),
    "lcd: no boundary condition": (
        "    return torch.where((t_prev < 0).view(-1, 1, 1, 1), z_prev, out)", "    return out"),
    "lcd: target at t instead of t_prev": ("out = target_fn(z_prev, t_prev.clamp(min=0))",
                                           "out = target_fn(z_prev, t)"),
    "lcd: abar_{-1} taken as abar_0": (
        "torch.where(t_prev >= 0, abar[t_prev.clamp(min=0)], torch.ones((), dtype=z_t.dtype))",
        "abar[t_prev.clamp(min=0)]"),
    "lcd: target is the teacher's x0_hat (no solver step)": (
        "    out = target_fn(z_prev, t_prev.clamp(min=0))",
        "    z_prev = x0\n    out = target_fn(z_prev, t_prev.clamp(min=0))"),
}
