"""Exercise 10: the VAE of latent diffusion.         Lesson: notebooks/10_latent_diffusion_vae.ipynb

Stable Diffusion's VAE (``AutoencoderKL``) encodes an image x into a diagonal Gaussian
posterior q(z | x) = N(mu, diag(sigma^2)), stored as (mean, logvar) with logvar = log sigma^2.
Implement the four small formulas around it (compare with ``diffusionlab.nn.vae``):

- tensors are NCHW, e.g. mean and logvar of shape (B, 4, 8, 8);
- images live in [-1, 1], so their data range is 2.

Grade it:  python -m diffusionlab grade 10      (or, in a notebook: check("10"))
"""
import math  # noqa: F401

import torch


def reparameterize(mean: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """A sample of q(z | x) written as a differentiable function of (mean, logvar): the
    reparameterization trick (Kingma & Welling 2014, eq. 10):

        z = mu + sigma * eps,    sigma = exp(logvar / 2),    eps = ``noise`` ~ N(0, I)

    Hint: sigma is exp(0.5 * logvar), not exp(logvar) (that would be the variance).
    """
    raise NotImplementedError


def kl_to_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z | x) || N(0, I)) for a diagonal Gaussian, one number per sample (shape (B,)),
    summed over every latent dimension (Kingma & Welling 2014, appendix B):

        KL = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)

    Hint: ``x.flatten(1).sum(dim=1)`` sums everything except the batch dimension.
    It is 0 exactly when mu = 0 and logvar = 0.
    """
    raise NotImplementedError


def scaling_factor(latents: torch.Tensor) -> float:
    """Stable Diffusion's latent scale (Rombach et al. 2022, appendix G; 0.18215 for SD 1.x):

        scaling_factor = 1 / std(latents)      over all values of a batch of latents

    so that ``latents * scaling_factor`` has unit variance, like the noise it is mixed with.
    Return a Python float.
    """
    raise NotImplementedError


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> float:
    """Peak signal-to-noise ratio in dB over the whole set:

        PSNR = 10 log10(data_range^2 / MSE),    MSE = mean over every value of (a - b)^2

    Return a Python float. Hint: 30 dB means an RMS error of about 3% of the range.
    """
    raise NotImplementedError


def compression_factor(image_shape: tuple, latent_shape: tuple) -> float:
    """How many times fewer numbers the latent holds than the image, e.g.
    (3, 32, 32) -> (4, 8, 8) is 3072 / 256 = 12, and SD's (3, 512, 512) -> (4, 64, 64) is 48.

    Hint: ``math.prod``.
    """
    raise NotImplementedError
