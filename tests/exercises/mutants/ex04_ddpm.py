"""Wrong answers learners write for exercise 04, as edits of solutions/ex04_ddpm.py
(format: see ex01_forward.py)."""

MUTANTS = {
    "ddpm_step: abar[-1] at the last step (t_prev = -1 wraps around)": (
        "a_prev = abar[t_prev].item() if t_prev >= 0 else 1.0", "a_prev = abar[t_prev].item()"),
    "ddpm_step: beta_t instead of beta' over the gap": (
        "beta = 1 - alpha\n", "beta = schedule.betas[t].item()\n"),
    "ddpm_step: sqrt(alpha_t) instead of sqrt(alpha') over the gap": (
        "(alpha ** 0.5 * (1 - a_prev)", "(schedule.alphas[t].item() ** 0.5 * (1 - a_prev)"),
    "ddpm_step: beta' as the variance": (
        "variance = (1 - a_prev) / (1 - a_t) * beta", "variance = beta"),
    "ddpm_step: missing sqrt of the variance": (
        "return mean + variance ** 0.5 * noise", "return mean + variance * noise"),
    "ddpm_step: x0_hat with a wrong sign": (
        "(x_t - (1 - a_t) ** 0.5 * model_output)", "(x_t + (1 - a_t) ** 0.5 * model_output)"),
    "ddpm_step: x0_hat divided by abar_t": ("/ a_t ** 0.5", "/ a_t"),
    "ddpm_step: generator ignored": (
        "noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)",
        "noise = torch.randn(x_t.shape, dtype=x_t.dtype)"),
    "ddpm_step: noise=None crashes": (
        "    if noise is None:\n"
        "        noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)\n", ""),
    "ddpm_sample: t_prev = t - 1 (skipped steps ignored)": (
        "t_prev = ts[i + 1] if i + 1 < len(ts) else -1", "t_prev = t - 1"),
    "ddpm_sample: t given as an int": (
        "eps = model(x, torch.full((x.shape[0],), t, dtype=torch.long))", "eps = model(x, t)"),
    "ddpm_sample: float timesteps": ("t, dtype=torch.long))", "t, dtype=torch.float32))"),
    "ddpm_sample: generator ignored": (
        "x = ddpm_step(schedule, eps, t, t_prev, x, generator=generator)",
        "x = ddpm_step(schedule, eps, t, t_prev, x)"),
    "ddpm_sample: last step skipped": (
        "for i, t in enumerate(ts):", "for i, t in enumerate(ts[:-1]):"),
    "ddpm_sample: calls the library's sampler": (
        "    ts = [int(t) for t in timesteps]",
        "    from diffusionlab import samplers\n"
        "    return samplers.sample(model, schedule, x_T.shape, sampler='ddpm', timesteps="
        "timesteps, x_T=x_T, generator=generator, progress=False)\n"
        "    ts = [int(t) for t in timesteps]"),
}
