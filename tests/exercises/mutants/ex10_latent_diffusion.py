"""Wrong answers learners write for exercise 10, as edits of
solutions/ex10_latent_diffusion.py (format: see ex01_forward.py)."""

_PSNR = ("    mse = float(((a - b) ** 2).mean())\n"
         "    return 10 * math.log10(data_range ** 2 / mse)")

MUTANTS = {
    "reparameterize: the variance as sigma": ("torch.exp(0.5 * logvar)", "torch.exp(logvar)"),
    "reparameterize: logvar as sigma": (
        "mean + torch.exp(0.5 * logvar) * noise", "mean + logvar * noise"),
    "reparameterize: noise ignored": (
        "return mean + torch.exp(0.5 * logvar) * noise", "return mean"),
    "kl: mean instead of sum per sample": ("kl.flatten(1).sum(dim=1)", "kl.flatten(1).mean(dim=1)"),
    "kl: summed over the batch too": ("kl.flatten(1).sum(dim=1)", "kl.sum()"),
    "kl: missing 1/2": ("kl = 0.5 * (", "kl = ("),
    "kl: sign of logvar": ("- 1.0 - logvar)", "- 1.0 + logvar)"),
    "scaling_factor: SD's 0.18215 hard-coded": (
        "return float(1.0 / latents.std())", "return 0.18215"),
    "scaling_factor: std of the first latent only": (
        "return float(1.0 / latents.std())", "return float(1.0 / latents[0].std())"),
    "scaling_factor: returns a tensor": (
        "return float(1.0 / latents.std())", "return 1.0 / latents.std()"),
    "scaling_factor: 1 / variance": (
        "return float(1.0 / latents.std())", "return float(1.0 / latents.var())"),
    "psnr: data_range not squared": ("data_range ** 2 / mse", "data_range / mse"),
    "psnr: 20 log10": ("return 10 * math.log10", "return 20 * math.log10"),
    "psnr: mean of per-image PSNRs": (
        _PSNR, "    mse = ((a - b) ** 2).flatten(1).mean(1)\n"
               "    return float((10 * torch.log10(data_range ** 2 / mse)).mean())"),
    "psnr: returns a tensor": (
        _PSNR, "    mse = ((a - b) ** 2).mean()\n"
               "    return 10 * torch.log10(data_range ** 2 / mse)"),
    "compression_factor: the docstring's 48": (
        "return math.prod(image_shape) / math.prod(latent_shape)", "return 48.0"),
    "compression_factor: upside down": (
        "return math.prod(image_shape) / math.prod(latent_shape)",
        "return math.prod(latent_shape) / math.prod(image_shape)"),
    "compression_factor: spatial size only": (
        "return math.prod(image_shape) / math.prod(latent_shape)",
        "return (image_shape[-1] * image_shape[-2]) / (latent_shape[-1] * latent_shape[-2])"),
    "compression_factor: integer division": (
        "/ math.prod(latent_shape)", "// math.prod(latent_shape)"),
}
