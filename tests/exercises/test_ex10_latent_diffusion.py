"""Graded tests for exercises/ex10_latent_diffusion.py (see conftest.py for how the folder is chosen)."""

import torch

from diffusionlab.grading import expect_close, expect_number, expect_tensor
from diffusionlab.metrics.images import psnr as lib_psnr
from diffusionlab.nn.vae import DiagonalGaussian

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "reparameterize": ("diffusionlab.nn.vae.DiagonalGaussian.sample",
                       "diffusionlab.nn.vae.DiagonalGaussian.from_mean_logvar"),
    "kl_to_standard_normal": ("diffusionlab.nn.vae.DiagonalGaussian.kl",
                              "diffusionlab.nn.vae.DiagonalGaussian.from_mean_logvar"),
    "psnr": "diffusionlab.metrics.images.psnr",
}


def _posterior(B=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(B, 4, 8, 8, generator=g)
    logvar = torch.randn(B, 4, 8, 8, generator=g) - 1.0
    noise = torch.randn(B, 4, 8, 8, generator=g)
    return mean, logvar, noise


def test_reparameterize_matches_eq10(exercise):
    ex = exercise("ex10_latent_diffusion")
    mean, logvar, noise = _posterior()
    ref = DiagonalGaussian.from_mean_logvar(mean, logvar)
    got = ex.reparameterize(mean.clone(), logvar.clone(), noise.clone())
    expect_close("reparameterize", got, ref.mean + ref.std * noise,
                 "mean + exp(0.5 * logvar) * noise")


def test_reparameterize_is_differentiable(exercise):
    ex = exercise("ex10_latent_diffusion")
    mean = torch.zeros(2, 4, 2, 2, requires_grad=True)
    logvar = torch.zeros(2, 4, 2, 2, requires_grad=True)
    z = expect_tensor("reparameterize", ex.reparameterize(mean, logvar, torch.ones(2, 4, 2, 2)),
                      (2, 4, 2, 2))
    assert z.requires_grad, "reparameterize: the result must depend on mean and logvar " \
                            "through torch operations (no .detach(), no .item())"
    z.sum().backward()
    assert mean.grad is not None and torch.allclose(mean.grad, torch.ones_like(mean)), \
        "reparameterize: dz/dmean should be 1"
    assert logvar.grad is not None and torch.allclose(logvar.grad, torch.full_like(logvar, 0.5)), \
        "reparameterize: dz/dlogvar should be 0.5 * sigma * noise (= 0.5 here): " \
        "use sigma = exp(0.5 * logvar)"


def test_kl_matches_library(exercise):
    ex = exercise("ex10_latent_diffusion")
    mean, logvar, _ = _posterior()
    got = ex.kl_to_standard_normal(mean.clone(), logvar.clone())
    expect_close("kl_to_standard_normal", got,
                 DiagonalGaussian.from_mean_logvar(mean, logvar).kl(),
                 "1/2 sum (mean^2 + exp(logvar) - 1 - logvar), one value per sample", rtol=1e-4)


def test_kl_zero_only_at_standard_normal(exercise):
    ex = exercise("ex10_latent_diffusion")
    zero = torch.zeros(2, 4, 3, 3)
    got = expect_tensor("kl_to_standard_normal", ex.kl_to_standard_normal(zero, zero), (2,))
    assert got.abs().max() < 1e-6, \
        f"kl_to_standard_normal: KL(N(0, I) || N(0, I)) should be 0, got {got.tolist()}"
    shifted = ex.kl_to_standard_normal(zero + 1.0, zero)
    assert torch.allclose(shifted, torch.full((2,), 0.5 * 36)), \
        "kl_to_standard_normal: mean 1, logvar 0 over 36 dimensions should give 18 " \
        f"(1/2 mu^2 each), got {shifted.tolist()}"


def test_scaling_factor(exercise):
    ex = exercise("ex10_latent_diffusion")
    g = torch.Generator().manual_seed(1)
    for std in (5.5, 2.0):                     # 1 / 5.5 is close to SD's 0.18215, 1 / 2 is not
        latents = std * torch.randn(64, 4, 8, 8, generator=g) + 0.3
        got = ex.scaling_factor(latents.clone())
        want = 1.0 / latents.std().item()
        expect_number(f"scaling_factor (latents of std {std})", got, want,
                      "1 / std of all the latents", rel=1e-4)
        assert abs((latents * got).std().item() - 1.0) < 1e-3, \
            f"scaling_factor: the scaled latents should have std 1, got " \
            f"{(latents * got).std().item():.4f}"


def test_psnr(exercise):
    ex = exercise("ex10_latent_diffusion")
    g = torch.Generator().manual_seed(2)
    a = torch.rand(4, 3, 8, 8, generator=g) * 2 - 1
    level = torch.tensor([0.01, 0.03, 0.1, 0.3]).view(-1, 1, 1, 1)   # one noise level per image
    b = (a + level * torch.randn(4, 3, 8, 8, generator=g)).clamp(-1, 1)
    expect_number("psnr(a, b)", ex.psnr(a, b), lib_psnr(a, b),
                  "10 log10(2^2 / MSE), the MSE over every value of the set", abs_tol=1e-3)
    expect_number("psnr(a, a + 0.1, data_range=1)", ex.psnr(a, a + 0.1, data_range=1.0), 20.0,
                  "10 log10(1 / 0.01) = 20 dB", abs_tol=1e-3)


def test_compression_factor(exercise):
    ex = exercise("ex10_latent_diffusion")
    for image, latent, want in (((3, 32, 32), (4, 8, 8), 12.0), ((3, 512, 512), (4, 64, 64), 48.0),
                                ((3, 30, 30), (4, 8, 8), 2700 / 256)):
        expect_number(f"compression_factor({image}, {latent})",
                      ex.compression_factor(image, latent), want,
                      "values in the image / values in the latent")
