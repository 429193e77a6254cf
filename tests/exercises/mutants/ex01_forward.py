"""Wrong answers learners write for exercise 01, as edits of solutions/ex01_forward.py.

Each entry: a name (what the learner did) -> (old, new), or a list of them; ``old`` occurs
exactly once in the solution. tests/exercises/test_mutants.py grades every mutant: each must
fail tests/exercises/test_ex01_forward.py.
"""

MUTANTS = {
    "q_step: missing sqrt on 1 - beta_t": (
        "(1.0 - beta).sqrt() * x_prev", "(1.0 - beta) * x_prev"),
    "q_step: 1 - abar_t for beta_t": (
        "beta = extract(schedule.betas, t, x_prev)",
        "beta = 1.0 - extract(schedule.alphas_cumprod, t, x_prev)"),
    "q_step: off-by-one timestep (t - 1)": (
        "extract(schedule.betas, t, x_prev)", "extract(schedule.betas, t - 1, x_prev)"),
    "q_step: given noise ignored": (
        "    if noise is None:\n        noise = torch.randn_like(x_prev)",
        "    noise = torch.randn_like(x_prev)"),
    "q_sample: alpha_t for abar_t": (
        "extract(schedule.alphas_cumprod, t, x0)", "extract(schedule.alphas, t, x0)"),
    "q_sample: missing sqrt on abar_t": ("abar.sqrt() * x0 +", "abar * x0 +"),
    "q_sample: missing sqrt on 1 - abar_t": (
        "(1.0 - abar).sqrt() * noise", "(1.0 - abar) * noise"),
    "q_sample: off-by-one timestep (t - 1)": (
        "extract(schedule.alphas_cumprod, t, x0)", "extract(schedule.alphas_cumprod, t - 1, x0)"),
    "q_sample: wrong sign of the noise": (
        "abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise",
        "abar.sqrt() * x0 - (1.0 - abar).sqrt() * noise"),
    "q_sample: no extract, a (B,) coefficient": (
        "abar = extract(schedule.alphas_cumprod, t, x0)",
        "abar = schedule.alphas_cumprod[t].to(x0.dtype)"),
    "q_sample: float64 result for float32 input": (
        "abar = extract(schedule.alphas_cumprod, t, x0)",
        "abar = schedule.alphas_cumprod[t].reshape(-1, *[1] * (x0.ndim - 1))"),
    "q_sample: given noise ignored": (
        "    if noise is None:\n        noise = torch.randn_like(x0)",
        "    noise = torch.randn_like(x0)"),
    "q_sample: uniform noise (rand_like)": (
        "noise = torch.randn_like(x0)", "noise = torch.rand_like(x0)"),
    "q_posterior: beta_t as the variance": (
        "variance = (1.0 - abar_prev) / (1.0 - abar) * beta", "variance = beta"),
    "q_posterior: abar_t for abar_(t-1) in the x0 coefficient": (
        "coef_x0 = abar_prev.sqrt() * beta", "coef_x0 = abar.sqrt() * beta"),
    "q_posterior: missing sqrt(alpha_t)": (
        "coef_xt = (1.0 - beta).sqrt() * (1.0 - abar_prev)", "coef_xt = (1.0 - abar_prev)"),
    "q_posterior: coefficients in float32": (
        "beta, abar, abar_prev = schedule.betas, schedule.alphas_cumprod, "
        "schedule.alphas_cumprod_prev",
        "beta, abar, abar_prev = schedule.betas.float(), schedule.alphas_cumprod.float(), "
        "schedule.alphas_cumprod_prev.float()"),
    "q_posterior: (variance, mean) in the wrong order": (
        "return mean, extract(variance, t, x0)", "return extract(variance, t, x0), mean"),
    "q_posterior: no extract for the mean, (B,) coefficients": (
        "mean = extract(coef_x0, t, x0) * x0 + extract(coef_xt, t, x0) * x_t",
        "mean = coef_x0[t] * x0 + coef_xt[t] * x_t"),
    "q_posterior: calls the library": (
        "    beta, abar, abar_prev",
        "    from diffusionlab import forward\n"
        "    return forward.q_posterior(schedule, x0, x_t, t)\n    beta, abar, abar_prev"),
}
