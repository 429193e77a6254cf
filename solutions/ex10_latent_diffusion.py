"""Exercise 10: the VAE of latent diffusion.          Solution (compare with diffusionlab/nn/vae.py)"""
import math

import torch


def reparameterize(mean: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps, sigma = exp(logvar / 2)  (Kingma & Welling 2014, eq. 10)."""
    return mean + torch.exp(0.5 * logvar) * noise


def kl_to_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) = 1/2 sum (mu^2 + sigma^2 - 1 - log sigma^2), per sample
    (Kingma & Welling 2014, appendix B)."""
    kl = 0.5 * (mean ** 2 + torch.exp(logvar) - 1.0 - logvar)
    return kl.flatten(1).sum(dim=1)


def scaling_factor(latents: torch.Tensor) -> float:
    """1 / std of the latents (Rombach et al. 2022, appendix G)."""
    return float(1.0 / latents.std())


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> float:
    """10 log10(data_range^2 / MSE), the MSE over every value of the set."""
    mse = float(((a - b) ** 2).mean())
    return 10 * math.log10(data_range ** 2 / mse)


def compression_factor(image_shape: tuple, latent_shape: tuple) -> float:
    """Number of values in an image divided by the number in its latent."""
    return math.prod(image_shape) / math.prod(latent_shape)
