"""The two players of a GAN (Goodfellow et al. 2014): a generator G(z) that maps a latent
code z ~ N(0, I) to a sample in ONE evaluation, and a discriminator D(x) that returns a
logit (real vs generated). Their losses live in ``diffusionlab.gan_losses``, their
training loop in ``diffusionlab.gan_training``; this module knows neither.

Two sizes, mirroring the course's diffusion networks so that lesson 07 can compare them at
the same parameter count:

    ToyGenerator, ToyDiscriminator      residual MLPs for the 2-D toys (like ``nn.mlp``)
    ConvGenerator, ConvDiscriminator    DCGAN-style convnets for 32x32 RGB shapes
                                        (Radford et al. 2016: transposed-conv-free here,
                                        nearest upsampling + 3x3 conv, which avoids
                                        checkerboard artifacts; Odena et al. 2016)

Stabilizers are switches on the discriminator: ``spectral_norm=True`` wraps every linear /
conv layer in spectral normalization (Miyato et al. 2018, eq. 8: W / sigma(W), sigma the
largest singular value, estimated by one power iteration per call), which bounds D's
Lipschitz constant. The R1 gradient penalty (Mescheder et al. 2018) is a loss term, so it
lives in ``gan_losses``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

from .._checks import check_int, check_tensor


def _maybe_sn(layer: nn.Module, on: bool) -> nn.Module:
    return _sn(layer) if on else layer


class _ResidualMLP(nn.Module):
    """x -> Linear -> [h + Linear(act(h))] x layers -> act -> Linear (the ToyDenoiser's body)."""

    def __init__(self, dim_in: int, dim_out: int, hidden: int, layers: int, sn: bool = False):
        super().__init__()
        self.inp = _maybe_sn(nn.Linear(dim_in, hidden), sn)
        self.blocks = nn.ModuleList(_maybe_sn(nn.Linear(hidden, hidden), sn) for _ in range(layers))
        self.out = _maybe_sn(nn.Linear(hidden, dim_out), sn)
        self.act = nn.LeakyReLU(0.2) if sn else nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(self.act(h))
        return self.out(self.act(h))


def _check_vectors(name: str, x, dim: int) -> torch.Tensor:
    check_tensor(name, x, ndim=2)
    if x.shape[1] != dim:
        raise ValueError(f"{name} must have shape (batch, {dim}), got {tuple(x.shape)}")
    return x


class ToyGenerator(nn.Module):
    """G: z in R^latent_dim -> x in R^dim, a residual MLP (no time input: one pass)."""

    def __init__(self, latent_dim: int = 8, dim: int = 2, hidden: int = 128, layers: int = 3):
        super().__init__()
        self.config = {"latent_dim": check_int("latent_dim", latent_dim, minimum=1),
                       "dim": check_int("dim", dim, minimum=1),
                       "hidden": check_int("hidden", hidden, minimum=1),
                       "layers": check_int("layers", layers, minimum=1)}
        self.net = _ResidualMLP(latent_dim, dim, hidden, layers)

    @property
    def latent_dim(self) -> int:
        return self.config["latent_dim"]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(_check_vectors("z", z, self.latent_dim))


class ToyDiscriminator(nn.Module):
    """D: x in R^dim -> one logit per sample (the probability of "real" is sigmoid(D(x)))."""

    def __init__(self, dim: int = 2, hidden: int = 128, layers: int = 3,
                 spectral_norm: bool = False):
        super().__init__()
        self.config = {"dim": check_int("dim", dim, minimum=1),
                       "hidden": check_int("hidden", hidden, minimum=1),
                       "layers": check_int("layers", layers, minimum=1),
                       "spectral_norm": bool(spectral_norm)}
        self.net = _ResidualMLP(dim, 1, hidden, layers, sn=spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(_check_vectors("x", x, self.config["dim"])).squeeze(1)


class ConvGenerator(nn.Module):
    """G: z (B, latent_dim) -> image (B, 3, 32, 32) in [-1, 1].

    Linear to a 4x4 map of 4c channels, then three stages of (nearest upsample x2, 3x3 conv,
    batch norm, ReLU) to 8, 16, 32 pixels (4c -> 2c -> c -> c), then a 3x3 conv to RGB and
    tanh: DCGAN's generator, with upsample + conv in place of transposed convolutions. Most
    parameters sit in the first linear layer, which is cheap to run; the 32x32 stage is
    narrow, because on a CPU the cost of a convnet is its large-resolution layers.
    """

    def __init__(self, latent_dim: int = 128, channels: int = 26, image_size: int = 32,
                 out_channels: int = 3):
        super().__init__()
        self.config = {"latent_dim": check_int("latent_dim", latent_dim, minimum=1),
                       "channels": check_int("channels", channels, minimum=1),
                       "image_size": check_int("image_size", image_size, minimum=8),
                       "out_channels": check_int("out_channels", out_channels, minimum=1)}
        if image_size != 32:
            raise ValueError(f"image_size must be 32 (three x2 stages from 4x4), got {image_size}")
        c = channels
        self.fc = nn.Linear(latent_dim, 4 * c * 4 * 4)
        self.fc_norm = nn.BatchNorm2d(4 * c)
        stages = []
        for cin, cout in ((4 * c, 2 * c), (2 * c, c), (c, c)):
            stages += [nn.Upsample(scale_factor=2, mode="nearest"),
                       nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
        self.body = nn.Sequential(*stages)
        self.to_rgb = nn.Conv2d(c, out_channels, 3, padding=1)

    @property
    def latent_dim(self) -> int:
        return self.config["latent_dim"]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = _check_vectors("z", z, self.latent_dim)
        h = self.fc(z).view(z.shape[0], -1, 4, 4)
        h = torch.relu(self.fc_norm(h))
        return torch.tanh(self.to_rgb(self.body(h)))


class ConvDiscriminator(nn.Module):
    """D: image (B, 3, 32, 32) -> one logit per image.

    DCGAN's discriminator: three 4x4 convolutions with stride 2 and LeakyReLU 0.2,
    32 -> 16 -> 8 -> 4 pixels (c -> 2c -> 4c channels), then a linear layer on the flattened
    4x4 map. No batch norm: with ``spectral_norm=True`` every layer is spectrally normalized
    instead (Miyato et al. 2018).
    """

    def __init__(self, channels: int = 32, image_size: int = 32, in_channels: int = 3,
                 spectral_norm: bool = True):
        super().__init__()
        self.config = {"channels": check_int("channels", channels, minimum=1),
                       "image_size": check_int("image_size", image_size, minimum=8),
                       "in_channels": check_int("in_channels", in_channels, minimum=1),
                       "spectral_norm": bool(spectral_norm)}
        if image_size != 32:
            raise ValueError(f"image_size must be 32 (three /2 stages to 4x4), got {image_size}")
        c, sn = channels, spectral_norm
        layers = []
        for cin, cout in ((in_channels, c), (c, 2 * c), (2 * c, 4 * c)):
            layers += [_maybe_sn(nn.Conv2d(cin, cout, 4, stride=2, padding=1), sn),
                       nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.head = _maybe_sn(nn.Linear(4 * c * 4 * 4, 1), sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=4)
        size = self.config["image_size"]
        if tuple(x.shape[1:]) != (self.config["in_channels"], size, size):
            raise ValueError(f"x must have shape (batch, {self.config['in_channels']}, {size}, "
                             f"{size}), got {tuple(x.shape)}")
        return self.head(self.body(x).flatten(1)).squeeze(1)


def num_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (what "the same parameter count" compares)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
