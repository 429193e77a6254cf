"""Wrong answers learners write for exercise 05, as edits of solutions/ex05_ddim.py
(format: see ex01_forward.py)."""

MUTANTS = {
    "make_timesteps leading: not reversed": ("(T // n)).round().flip(0)", "(T // n)).round()"),
    "make_timesteps leading: T / n instead of T // n": ("* (T // n)", "* (T / n)"),
    "make_timesteps trailing: missing - 1": (").round() - 1", ").round()"),
    "make_timesteps linspace: up to T instead of T - 1": (
        "torch.linspace(0, T - 1, n", "torch.linspace(0, T, n"),
    "make_timesteps: unknown spacing falls back to leading": (
        'if spacing == "leading":', 'if spacing not in ("trailing", "linspace"):'),
    "make_timesteps: the docstring's example as a constant": (
        "    n, T = num_inference_steps, num_train_timesteps\n",
        "    if num_inference_steps == 10:\n"
        "        return torch.tensor([900, 800, 700, 600, 500, 400, 300, 200, 100, 0])\n"
        "    n, T = num_inference_steps, num_train_timesteps\n"),
    "make_timesteps: float timesteps": ("return ts.long()", "return ts"),
    "ddim_step: eta ignored": ("sigma = eta * (", "sigma = 0.0 * ("),
    "ddim_step: sigma without its second sqrt": (
        "sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) ** 0.5",
        "sigma = eta * ((1 - a_prev) / (1 - a_t)) ** 0.5 * (1 - a_t / a_prev)"),
    "ddim_step: direction without - sigma^2": (
        "max(1 - a_prev - sigma ** 2, 0.0) ** 0.5", "(1 - a_prev) ** 0.5"),
    "ddim_step: abar[-1] at the last step": (
        "a_prev = abar[t_prev].item() if t_prev >= 0 else 1.0", "a_prev = abar[t_prev].item()"),
    "ddim_step: noise=None crashes when eta > 0": (
        "        if noise is None:\n"
        "            noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)\n", ""),
    "ddim_step: generator ignored": (
        "noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)",
        "noise = torch.randn(x_t.shape, dtype=x_t.dtype)"),
    "ddim_step: x0_hat divided by abar_t": ("/ a_t ** 0.5", "/ a_t"),
}
