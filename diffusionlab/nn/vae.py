"""The KL autoencoder of latent diffusion (D31-Q4, D31-Q16, D35-Q1, D35-Q5): Stable
Diffusion's ``AutoencoderKL`` (Rombach et al. 2022, section 3.1) at toy scale.

    encoder   x (B, 3, 32, 32) -> conv_in -> [ResBlock, Downsample] x 2 -> ResBlock
              -> mid ResBlock -> GroupNorm, SiLU, conv_out -> (B, 2 * 4, 8, 8) = (mean, logvar)
    posterior q(z | x) = N(mean, diag(exp(logvar)))                    ``DiagonalGaussian``
    decoder   z (B, 4, 8, 8) -> conv_in -> mid ResBlock -> [ResBlock, Upsample] x 2 -> ResBlock
              -> GroupNorm, SiLU, conv_out -> (B, 3, 32, 32)

``len(channel_mults) - 1`` stride-2 downsamples, so the default (1, 2, 2) maps 32x32 to
8x8: 3 * 32 * 32 = 3072 numbers become 4 * 8 * 8 = 256, a 12x compression (SD: 512x512x3
to 64x64x4, 48x). The blocks are conv + GroupNorm + SiLU residual blocks as in SD's VAE,
without the time embedding of the U-Net's blocks (an autoencoder has no noise level) and
without SD's single self-attention block in the middle (at 8x8 it buys little here).

Training (``diffusionlab/recipes/vae.py``) minimises

    L = |x - D(z)|_1 or MSE   +   kl_weight * KL(q(z | x) || N(0, I)),   z ~ q(z | x)

with a *tiny* KL weight, as SD does (its config: ``kl_weight: 1e-6``). So the "V" in VAE
is almost decorative: the KL term only keeps the latents from drifting to huge values;
the model behaves like a plain autoencoder with a little noise on its code. SD adds an
LPIPS perceptual loss and a patch-GAN discriminator so that the decoder draws sharp,
plausible texture instead of the blur that a pixel loss alone prefers; we skip both
(a 32x32 flat-coloured shape has no texture to hallucinate, and they would cost a
second network and unstable adversarial training on 2 CPU cores).

Scaling factor (Rombach et al. 2022, appendix G; the ``scale_factor`` of the LDM configs,
0.18215 for SD): after training, ``scaling_factor = 1 / std(z)`` over a batch of
training latents, so that the latents the diffusion model sees, ``z * scaling_factor``,
have unit variance like the N(0, I) noise they are mixed with. Decoding divides it back:
``decode(latents / scaling_factor)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int, check_number, check_tensor
from .blocks import ResBlock, Upsample, group_norm


class DiagonalGaussian:
    """The encoder's posterior q(z | x) = N(mean, diag(exp(logvar))), like diffusers'
    ``DiagonalGaussianDistribution``. ``parameters`` is (B, 2C, H, W): mean then logvar
    along the channels. logvar is clamped to [-30, 20] (as SD does) for stability.
    """

    def __init__(self, parameters: torch.Tensor):
        check_tensor("parameters", parameters, ndim=4)
        if parameters.shape[1] % 2:
            raise ValueError(f"parameters must have an even number of channels (mean and "
                             f"logvar), got shape {tuple(parameters.shape)}")
        self.parameters = parameters
        self.mean, logvar = parameters.chunk(2, dim=1)
        self.logvar = logvar.clamp(-30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)
        self.var = torch.exp(self.logvar)

    @classmethod
    def from_mean_logvar(cls, mean: torch.Tensor, logvar: torch.Tensor) -> "DiagonalGaussian":
        check_tensor("mean", mean, ndim=4)
        check_tensor("logvar", logvar, ndim=4)
        if mean.shape != logvar.shape:
            raise ValueError(f"mean and logvar must have the same shape, "
                             f"got {tuple(mean.shape)} and {tuple(logvar.shape)}")
        return cls(torch.cat([mean, logvar], dim=1))

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mean + std * eps, eps ~ N(0, I): the reparameterization trick
        (Kingma & Welling 2014, eq. 10 with z = g(eps, x) = mu + sigma * eps), so that
        gradients flow through mean and std into the encoder."""
        eps = torch.randn(self.mean.shape, generator=generator, dtype=self.mean.dtype,
                          device=self.mean.device)
        return self.mean + self.std * eps                           # z = mu + sigma * eps

    def mode(self) -> torch.Tensor:
        """The most likely latent, the mean (used to encode images for diffusion)."""
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q(z | x) || N(0, I)) per sample, summed over latent dimensions: the closed form
        of Kingma & Welling 2014, appendix B,

            -KL = 1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)
        """
        return 0.5 * (self.mean ** 2 + self.var - 1.0 - self.logvar).sum(dim=(1, 2, 3))


class RightPadDownsample(nn.Conv2d):
    """A stride-2 3x3 convolution padded by one pixel on the right and bottom only: output
    pixel i reads input pixels 2i..2i+2 (diffusers' ``Downsample2D(padding=0)``, which its
    ``AutoencoderKL`` encoder uses; SD's original LDM code pads the same way). The course's
    default pads every side by 1 (pixels 2i-1..2i+1): the same weights on a grid shifted by
    one input pixel."""

    def __init__(self, channels: int):
        super().__init__(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (0, 1, 0, 1)))


class Encoder(nn.Module):
    def __init__(self, in_channels: int, latent_channels: int, widths: list[int],
                 shortcut: bool = False, downsample_padding: int = 1):
        super().__init__()
        self.factor = 2 ** (len(widths) - 1)
        # residual autoencoding (DC-AE, Chen et al. 2024): a linear map of the pixels'
        # space-to-channel rearrangement is added to the latent mean
        self.shortcut = nn.Conv2d(in_channels * self.factor ** 2, latent_channels, 1) \
            if shortcut else None
        self.latent_channels = latent_channels
        self.conv_in = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        blocks, ch = [], widths[0]
        for i, w in enumerate(widths):
            blocks.append(ResBlock(ch, w))
            ch = w
            if i < len(widths) - 1:
                blocks.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1)    # downsample x2
                              if downsample_padding else RightPadDownsample(ch))
        self.down = nn.Sequential(*blocks)
        self.mid = ResBlock(ch, ch)
        self.norm_out = group_norm(ch)
        self.conv_out = nn.Conv2d(ch, 2 * latent_channels, 3, padding=1)  # mean and logvar

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.down(self.conv_in(x)))
        out = self.conv_out(F.silu(self.norm_out(h)))
        if self.shortcut is not None:
            s = self.shortcut(F.pixel_unshuffle(x, self.factor))
            out = out + F.pad(s, (0, 0, 0, 0, 0, self.latent_channels))   # mean half only
        return out


class Decoder(nn.Module):
    def __init__(self, out_channels: int, latent_channels: int, widths: list[int],
                 shortcut: bool = False):
        super().__init__()
        self.factor = 2 ** (len(widths) - 1)
        # residual autoencoding (DC-AE): a linear map of z, channel-to-space, is added
        self.shortcut = nn.Conv2d(latent_channels, out_channels * self.factor ** 2, 1) \
            if shortcut else None
        ch = widths[-1]
        self.conv_in = nn.Conv2d(latent_channels, ch, 3, padding=1)
        self.mid = ResBlock(ch, ch)
        blocks = []
        for i in reversed(range(len(widths))):
            blocks.append(ResBlock(ch, widths[i]))
            ch = widths[i]
            if i > 0:
                blocks.append(Upsample(ch))
        self.up = nn.Sequential(*blocks)
        self.norm_out = group_norm(ch)
        self.conv_out = nn.Conv2d(ch, out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.up(self.mid(self.conv_in(z)))
        out = self.conv_out(F.silu(self.norm_out(h)))
        if self.shortcut is not None:
            out = out + F.pixel_shuffle(self.shortcut(z), self.factor)
        return out


class VAE(nn.Module):
    """AutoencoderKL at toy scale: (B, 3, 32, 32) in [-1, 1] <-> (B, 4, 8, 8) latents.

    ``encode(x)`` -> ``DiagonalGaussian``; ``decode(z)`` -> image (unclamped);
    ``forward(x, sample_posterior=True)`` -> (reconstruction, posterior).
    For diffusion use ``encode_latents`` (scaled by ``scaling_factor``) and
    ``decode_latents`` (unscales, decodes, clamps to [-1, 1]).
    ``downsample_padding``: 1 pads the encoder's stride-2 convolutions on every side (the
    shipped VAEs), 0 on the right and bottom only (``RightPadDownsample``: diffusers'
    ``AutoencoderKL``, so that the VAE maps onto the stock class: ``diffusionlab.export``).
    """

    def __init__(self, in_channels: int = 3, latent_channels: int = 4, base_channels: int = 32,
                 channel_mults=(1, 2, 2), scaling_factor: float = 1.0, shortcut: bool = False,
                 downsample_padding: int = 1):
        super().__init__()
        if downsample_padding not in (0, 1) or isinstance(downsample_padding, bool):
            raise ValueError(f"downsample_padding must be 1 (pad every side) or 0 (right and "
                             f"bottom, as diffusers' AutoencoderKL), got {downsample_padding!r}")
        in_channels = check_int("in_channels", in_channels, minimum=1)
        latent_channels = check_int("latent_channels", latent_channels, minimum=1)
        base_channels = check_int("base_channels", base_channels, minimum=1)
        channel_mults = tuple(check_int("channel_mults entries", m, minimum=1)
                              for m in channel_mults)
        if not channel_mults:
            raise ValueError("channel_mults must have at least one level, got ()")
        scaling_factor = check_number("scaling_factor", scaling_factor, minimum=0.0)
        if scaling_factor == 0:
            raise ValueError("scaling_factor must be > 0, got 0")
        self.config = dict(in_channels=in_channels, latent_channels=latent_channels,
                           base_channels=base_channels, channel_mults=list(channel_mults),
                           scaling_factor=scaling_factor)
        if not isinstance(shortcut, bool):
            raise TypeError(f"shortcut must be a bool, got {type(shortcut).__name__}")
        if shortcut:                      # only VAEs with the shortcut record it
            self.config["shortcut"] = True
        if downsample_padding == 0:       # the shipped configs predate it
            self.config["downsample_padding"] = 0
        self.in_channels, self.latent_channels = in_channels, latent_channels
        self.downscale = 2 ** (len(channel_mults) - 1)
        widths = [base_channels * m for m in channel_mults]
        self.encoder = Encoder(in_channels, latent_channels, widths, shortcut, downsample_padding)
        self.decoder = Decoder(in_channels, latent_channels, widths, shortcut)

    @property
    def scaling_factor(self) -> float:
        return self.config["scaling_factor"]

    @scaling_factor.setter
    def scaling_factor(self, value: float) -> None:
        value = check_number("scaling_factor", value, minimum=0.0)
        if value == 0:
            raise ValueError("scaling_factor must be > 0, got 0")
        self.config["scaling_factor"] = value

    def latent_shape(self, height: int = 32, width: int = 32) -> tuple[int, int, int]:
        """(C, H, W) of the latent of an H x W image."""
        return (self.latent_channels, height // self.downscale, width // self.downscale)

    # ------------------------------------------------------------ validation
    def _check_images(self, x) -> torch.Tensor:
        check_tensor("x", x, ndim=4)
        _, C, H, W = x.shape
        if C != self.in_channels:
            raise ValueError(f"x must have {self.in_channels} channels, got shape {tuple(x.shape)}")
        if H % self.downscale or W % self.downscale:
            raise ValueError(f"x's height and width must be divisible by {self.downscale} "
                             f"(the VAE downsamples by {self.downscale}), got {H}x{W}")
        return x

    def _check_latents(self, z, name: str = "z") -> torch.Tensor:
        check_tensor(name, z, ndim=4)
        if z.shape[1] != self.latent_channels:
            raise ValueError(f"{name} must have {self.latent_channels} latent channels, "
                             f"got shape {tuple(z.shape)} (pass latents, not images?)")
        return z

    # ------------------------------------------------------------ the model
    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """q(z | x) for images x in [-1, 1]."""
        return DiagonalGaussian(self.encoder(self._check_images(x)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's image for (unscaled) latents z; not clamped."""
        return self.decoder(self._check_latents(z))

    def forward(self, x: torch.Tensor, sample_posterior: bool = True,
                generator: torch.Generator | None = None):
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.decode(z), posterior

    # ------------------------------------------------------ for diffusion
    @torch.no_grad()
    def encode_latents(self, images: torch.Tensor, sample: bool = False,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Scaled latents for a diffusion model: z * scaling_factor, z the posterior mean
        (or a sample with ``sample=True``, as SD's training scripts do)."""
        posterior = self.encode(images)
        z = posterior.sample(generator) if sample else posterior.mode()
        return z * self.scaling_factor

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] from scaled latents: decode(latents / scaling_factor)."""
        self._check_latents(latents, "latents")
        return self.decode(latents / self.scaling_factor).clamp(-1.0, 1.0)

    @classmethod
    def pretrained(cls, device: str | torch.device = "cpu", name: str = "vae") -> "VAE":
        """A shipped VAE: ``diffusionlab/weights/vae`` (the shapes world's), or
        ``name="vae_scenes"`` (the wider world's, the tiny SDXL's)."""
        from ..checkpoints import load_checkpoint, weights_path

        return load_checkpoint(cls, weights_path(name), device=device)


class PixelSpace(nn.Module):
    """The identity "autoencoder": a diffusion model that works on pixels (DDPM, Imagen,
    DeepFloyd IF) run through the same latent-diffusion pipelines. ``encode_latents`` is the
    image, ``decode_latents`` the latents clamped to [-1, 1]; ``downscale`` 1, no weights.
    ``recipes.text2img_spelling`` uses it: its letters are drawn pixel by pixel, so that no
    autoencoder stands between the text encoder and the ink (lesson 16)."""

    def __init__(self, channels: int = 3):
        super().__init__()
        self.in_channels = self.latent_channels = check_int("channels", channels, minimum=1)
        self.downscale = 1
        self.scaling_factor = 1.0
        self.config = dict(channels=self.in_channels)

    def latent_shape(self, height: int = 32, width: int = 32) -> tuple[int, int, int]:
        return (self.latent_channels, height, width)

    def _check(self, x, name: str) -> torch.Tensor:
        check_tensor(name, x, ndim=4)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{name} must have {self.in_channels} channels, got shape {tuple(x.shape)}")
        return x

    @torch.no_grad()
    def encode_latents(self, images: torch.Tensor, sample: bool = False, generator=None) -> torch.Tensor:
        return self._check(images, "images").clone()

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return self._check(latents, "latents").clamp(-1.0, 1.0)
