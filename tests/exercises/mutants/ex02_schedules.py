"""Wrong answers learners write for exercise 02, as edits of solutions/ex02_schedules.py
(format: see ex01_forward.py)."""

MUTANTS = {
    "linear_betas: float32 (no dtype)": (
        ", num_timesteps, dtype=torch.float64)", ", num_timesteps)"),
    "linear_betas: T + 1 points, first dropped": (
        "torch.linspace(1e-4, 0.02, num_timesteps, dtype=torch.float64)",
        "torch.linspace(1e-4, 0.02, num_timesteps + 1, dtype=torch.float64)[1:]"),
    "linear_betas: T = 1000 hard-coded": (
        "torch.linspace(1e-4, 0.02, num_timesteps, dtype=torch.float64)",
        "torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)"),
    "cosine_betas: cos instead of cos^2": ("math.pi / 2) ** 2", "math.pi / 2)"),
    "cosine_betas: s ignored": ("(tau + s) / (1 + s)", "(tau + 0.008) / (1 + 0.008)"),
    "cosine_betas: max_beta ignored": ("max=max_beta)", "max=0.999)"),
    "cosine_betas: ratio upside down": (
        "1.0 - f((i + 1) / num_timesteps) / f(i / num_timesteps)",
        "1.0 - f(i / num_timesteps) / f((i + 1) / num_timesteps)"),
    "cosine_betas: off by one step (i - 1, i)": (
        "f((i + 1) / num_timesteps) / f(i / num_timesteps)",
        "f(i / num_timesteps) / f((i - 1) / num_timesteps)"),
    "snr: upside down": (
        "return alphas_cumprod / (1.0 - alphas_cumprod)",
        "return (1.0 - alphas_cumprod) / alphas_cumprod"),
    "snr: square root (an amplitude ratio)": (
        "return alphas_cumprod / (1.0 - alphas_cumprod)",
        "return (alphas_cumprod / (1.0 - alphas_cumprod)).sqrt()"),
    "snr: + 1e-8 against division by zero": (
        "return alphas_cumprod / (1.0 - alphas_cumprod)",
        "return alphas_cumprod / (1.0 - alphas_cumprod + 1e-8)"),
    "rescale: in place without clone (the docstring's warning)": (
        "    first, last = sqrt_abar[0].clone(), sqrt_abar[-1].clone()\n"
        "    sqrt_abar = (sqrt_abar - last) * first / (first - last)",
        "    first, last = sqrt_abar[0], sqrt_abar[-1]\n"
        "    sqrt_abar -= last\n    sqrt_abar *= first / (first - last)"),
    "rescale: forgets the square": ("abar = sqrt_abar ** 2", "abar = sqrt_abar"),
    "rescale: alpha_0 = 1": (
        "torch.cat([abar[:1], abar[1:] / abar[:-1]])",
        "torch.cat([torch.ones(1, dtype=abar.dtype), abar[1:] / abar[:-1]])"),
    "rescale: returns the alphas": ("return 1.0 - alphas", "return alphas"),
    "rescale: changes its input in place": (
        "    sqrt_abar = torch.cumprod(1.0 - betas, dim=0).sqrt()",
        "    betas[-1] = 1.0\n    sqrt_abar = torch.cumprod(1.0 - betas, dim=0).sqrt()"),
}
