"""Wrong answers learners write for exercise 03, as edits of
solutions/ex03_noise_prediction.py (format: see ex01_forward.py)."""

MUTANTS = {
    "x0_from_eps: missing sqrt in the denominator": ("/ abar.sqrt()\n", "/ abar\n"),
    "x0_from_eps: wrong sign": (
        "(x_t - (1.0 - abar).sqrt() * eps)", "(x_t + (1.0 - abar).sqrt() * eps)"),
    "x0_from_eps: alpha_t for abar_t": (
        "abar = extract(schedule.alphas_cumprod, t, x_t)",
        "abar = extract(schedule.alphas, t, x_t)"),
    "v_target: x0 and eps swapped": (
        "return abar.sqrt() * eps - (1.0 - abar).sqrt() * x0",
        "return abar.sqrt() * x0 - (1.0 - abar).sqrt() * eps"),
    "v_target: no extract, a (B,) coefficient": (
        "    abar = extract(schedule.alphas_cumprod, t, x0)\n    return abar.sqrt() * eps",
        "    abar = schedule.alphas_cumprod[t].to(x0.dtype)\n    return abar.sqrt() * eps"),
    "v_target: coefficients swapped": (
        "return abar.sqrt() * eps - (1.0 - abar).sqrt() * x0",
        "return (1.0 - abar).sqrt() * eps - abar.sqrt() * x0"),
    "training_loss: sum instead of mean": (
        "F.mse_loss(model(x_t, t), target)", "F.mse_loss(model(x_t, t), target, reduction='sum')"),
    "training_loss: the model sees x0, not x_t": (
        "model(x_t, t), target)", "model(x0, t), target)"),
    "training_loss: timesteps shifted by one": (
        "model(x_t, t), target)", "model(x_t, t + 1), target)"),
    "training_loss: v target built from x_t": (
        "target = v_target(schedule, x0, t, noise)", "target = v_target(schedule, x_t, t, noise)"),
    "training_loss: noise as the sample target": ("target = x0\n", "target = noise\n"),
    "training_loss: unknown type falls to v": (
        '    elif prediction_type == "v_prediction":\n'
        "        target = v_target(schedule, x0, t, noise)\n    else:",
        "    else:\n        target = v_target(schedule, x0, t, noise)\n    if False:"),
    "training_loss: .item() (no gradient)": (
        "return F.mse_loss(model(x_t, t), target)",
        "return torch.tensor(F.mse_loss(model(x_t, t), target).item())"),
    "training_loss: under no_grad": (
        "    return F.mse_loss(model(x_t, t), target)",
        "    with torch.no_grad():\n        return F.mse_loss(model(x_t, t), target)"),
    "training_loss: x_t without square roots": (
        "x_t = abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise",
        "x_t = abar * x0 + (1.0 - abar) * noise"),
}
