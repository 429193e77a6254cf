"""Tests of the KL autoencoder (diffusionlab.nn.vae) and its shipped checkpoint."""
import json
import math

import pytest
import torch

from diffusionlab.checkpoints import load_checkpoint, save_checkpoint, weights_path
from diffusionlab.data.shapes import make_shapes
from diffusionlab.metrics.images import psnr
from diffusionlab.nn.vae import VAE, DiagonalGaussian

SMALL = dict(base_channels=8, channel_mults=(1, 2, 2))


def test_shapes_encode_decode():
    torch.manual_seed(0)
    vae = VAE(**SMALL).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    post = vae.encode(x)
    assert post.mean.shape == post.logvar.shape == (2, 4, 8, 8)
    assert vae.latent_shape(32, 32) == (4, 8, 8)
    assert vae.decode(post.mode()).shape == (2, 3, 32, 32)
    recon, post2 = vae(x, sample_posterior=False)
    assert recon.shape == x.shape and torch.allclose(recon, vae.decode(post2.mean))
    # a 16x24 image gives a 4x6 latent (any size divisible by 4)
    assert vae.encode(torch.zeros(1, 3, 16, 24)).mean.shape == (1, 4, 4, 6)


def test_kl_zero_at_standard_normal_and_positive_otherwise():
    zero = torch.zeros(3, 4, 8, 8)
    assert torch.allclose(DiagonalGaussian.from_mean_logvar(zero, zero).kl(), torch.zeros(3))
    gen = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(3, 4, 8, 8, generator=gen), torch.randn(3, 4, 8, 8, generator=gen)
    kl = DiagonalGaussian.from_mean_logvar(mean, logvar).kl()
    assert kl.shape == (3,) and (kl > 0).all()
    # independent: the KL of two 1-D Gaussians, summed over the 256 dimensions
    p = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    q = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    ref = torch.distributions.kl_divergence(p, q).sum(dim=(1, 2, 3))
    assert torch.allclose(kl, ref, rtol=1e-5)


def test_reparameterized_samples_have_posterior_moments():
    mean = torch.tensor([1.0, -2.0, 0.5, 0.0]).view(1, 4, 1, 1).expand(20000, 4, 1, 1)
    logvar = torch.log(torch.tensor([0.25, 1.0, 4.0, 0.01])).view(1, 4, 1, 1).expand_as(mean)
    post = DiagonalGaussian.from_mean_logvar(mean, logvar)
    z = post.sample(torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0).flatten(), mean[0].flatten(), atol=0.05)
    assert torch.allclose(z.std(0).flatten(), torch.tensor([0.5, 1.0, 2.0, 0.1]), rtol=0.03)
    assert torch.equal(post.mode(), mean)
    # gradients flow through mean and std (that is the point of the trick)
    m = torch.zeros(2, 4, 2, 2, requires_grad=True)
    lv = torch.zeros(2, 4, 2, 2, requires_grad=True)
    DiagonalGaussian.from_mean_logvar(m, lv).sample().sum().backward()
    assert m.grad is not None and lv.grad is not None and lv.grad.abs().sum() > 0


def test_scaled_latents_round_trip():
    torch.manual_seed(0)
    vae = VAE(**SMALL, scaling_factor=0.5).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    lat = vae.encode_latents(x)
    assert torch.allclose(lat, vae.encode(x).mean * 0.5)
    out = vae.decode_latents(lat)
    assert torch.allclose(out, vae.decode(lat / 0.5).clamp(-1, 1))
    assert out.min() >= -1 and out.max() <= 1


def test_psnr_matches_formula():
    a = torch.zeros(2, 3, 4, 4)
    b = a + 0.1
    assert math.isclose(psnr(a, b), 10 * math.log10(4 / 0.01), rel_tol=1e-5)
    mask = torch.zeros(2, 1, 4, 4)
    mask[:, :, 0, 0] = 1
    b2 = a.clone()
    b2[:, :, 0, 0] = 0.2
    assert math.isclose(psnr(a, b2, mask=mask), 10 * math.log10(4 / 0.04), rel_tol=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        psnr(a, b[:1])


def test_bad_inputs():
    vae = VAE(**SMALL)
    with pytest.raises(ValueError, match="3 channels"):
        vae.encode(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="divisible by 4"):
        vae.encode(torch.zeros(1, 3, 30, 32))
    with pytest.raises(ValueError, match="4 latent channels"):
        vae.decode(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="4 latent channels"):
        vae.decode_latents(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="4 dimensions"):
        vae.encode(torch.zeros(3, 32, 32))
    with pytest.raises(TypeError, match="floating-point"):
        vae.encode(torch.zeros(1, 3, 32, 32, dtype=torch.long))
    with pytest.raises(ValueError, match="scaling_factor must be > 0"):
        VAE(scaling_factor=0.0)
    with pytest.raises(ValueError, match="even number of channels"):
        DiagonalGaussian(torch.zeros(1, 3, 2, 2))


def test_checkpoint_config_mismatch_is_clear(tmp_path):
    vae = VAE(**SMALL)
    save_checkpoint(vae, tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    meta["config"]["base_channels"] = 16                       # weights are for 8
    (tmp_path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not fit VAE"):
        load_checkpoint(VAE, tmp_path)
    meta["config"]["hidden"] = 3                               # an argument VAE does not take
    (tmp_path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not fit VAE"):
        load_checkpoint(VAE, tmp_path)


# ---------------------------------------------------------------- the shipped checkpoint
@pytest.fixture(scope="module")
def shipped():
    return VAE.pretrained()


def test_shipped_vae_reconstructs_fresh_images(shipped):
    data = make_shapes(128, seed=31_337)                       # never seen in training
    with torch.no_grad():
        recon = shipped.decode(shipped.encode(data.images).mode()).clamp(-1, 1)
    assert psnr(recon, data.images) >= 30.0
    manifest = json.loads((weights_path("vae") / "manifest.json").read_text())
    assert manifest["scores"]["psnr"] >= 30.0
    assert (weights_path("vae") / "model.safetensors").stat().st_size < 5e6


def test_shipped_latents_have_unit_scale(shipped):
    data = make_shapes(256, seed=31_338)
    lat = shipped.encode_latents(data.images)
    assert lat.shape == (256, 4, 8, 8)
    assert 0.7 <= lat.std().item() <= 1.3
    assert shipped.scaling_factor != 1.0                       # computed from data, stored
