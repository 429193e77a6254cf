"""ControlNet: spatial control for a frozen text-to-image U-Net (D31-Q8, D35-Q3, D35-Q9).

Zhang, Rao & Agrawala 2023, "Adding Conditional Control to Text-to-Image Diffusion
Models", section 3 and Figure 3. The pretrained U-Net is locked; a *trainable copy* of its
encoder and middle block reads the noisy latent, the timestep and the prompt like the
original, plus a condition image c (an edge map, a mask, a pose...):

    h_0      = conv_in(z_t) + E(c)                      E: a small conv net, image -> latent grid
    skips_k, mid = copy's encoder and middle block (h_0, t, prompt)
    r_k      = Z_k(skips_k)                             Z_k: 1x1 "zero convolutions"
    r_mid    = Z_mid(mid)
    eps      = U-Net(z_t, t, prompt; skip_k + s r_k, mid + s r_mid)     s: conditioning scale

A zero convolution (section 3.1, eq. 2) is a 1x1 convolution whose weight and bias start
at exactly 0. So at initialization every r_k is 0 and the controlled U-Net is the original
U-Net, bit for bit (D35-Q9): training cannot start by damaging what the U-Net knows. The
puzzle "if the weights are 0, how does anything learn?" has a one-line answer: the
gradient of Z's *weight* is (dL/dr) * skip, and the skip features are not 0, so Z learns
at once; the gradient that reaches the *copy* is Z^T (dL/dr) = 0 at step 0, so the copy
starts learning one step later (lesson 11 measures both).

``E`` follows diffusers' ``ControlNetConditioningEmbedding``: 3x3 convolutions with SiLU,
stride 2 at each halving (32x32 maps to the 8x8 latent grid here, 512 to 64 in SD), and a
last convolution that is itself zero-initialized.

The module names are diffusers' ``ControlNetModel`` names (``controlnet_cond_embedding``,
``controlnet_down_blocks``, ``controlnet_mid_block``; ``conv_in``, ``time_embedding``,
``down_blocks``, ``mid_block`` for the copy), so a learner can map one onto the other.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int, check_number, check_tensor
from .unet import UNet, run_encoder


def zero_conv(channels: int) -> nn.Conv2d:
    """A 1x1 convolution with weight and bias exactly 0 (Zhang et al. 2023, section 3.1)."""
    conv = nn.Conv2d(channels, channels, kernel_size=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class ConditioningEmbedding(nn.Module):
    """Condition image (B, C_c, H, W) -> features on the latent grid (B, C_0, H/f, W/f):
    conv_in, then per halving [conv 3x3, conv 3x3 stride 2] with SiLU, then a zero conv_out."""

    def __init__(self, conditioning_channels: int, out_channels: int, downscale: int = 4,
                 widths=(16, 32)):
        super().__init__()
        halvings = int(round(math.log2(downscale)))
        if 2 ** halvings != downscale:
            raise ValueError(f"downscale must be a power of 2, got {downscale}")
        widths = list(widths) + [widths[-1]] * max(0, halvings + 1 - len(widths))
        self.conv_in = nn.Conv2d(conditioning_channels, widths[0], 3, padding=1)
        self.blocks = nn.ModuleList()
        for i in range(halvings):
            self.blocks.append(nn.Conv2d(widths[i], widths[i], 3, padding=1))
            self.blocks.append(nn.Conv2d(widths[i], widths[i + 1], 3, padding=1, stride=2))
        self.conv_out = nn.Conv2d(widths[halvings], out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.conv_in(cond))
        for block in self.blocks:
            h = F.silu(block(h))
        return self.conv_out(h)


class ControlNet(nn.Module):
    """A trainable copy of a U-Net's encoder and middle block, a condition embedder and one
    zero convolution per skip and on the middle block (see the module docstring).

    ``forward(z_t, t, context, controlnet_cond, conditioning_scale=1.0)`` returns
    ``(down_residuals, mid_residual)``, what ``UNet.forward`` takes as
    ``down_residuals=`` and ``mid_residual=`` (diffusers: ``down_block_res_samples``,
    ``mid_block_res_sample``).

    Build one from a trained U-Net with :meth:`from_unet`; the constructor builds the same
    architecture with fresh weights (what a checkpoint is loaded into).
    """

    def __init__(self, unet_config: dict, conditioning_channels: int = 1,
                 conditioning_downscale: int = 4):
        super().__init__()
        conditioning_channels = check_int("conditioning_channels", conditioning_channels,
                                          minimum=1)
        conditioning_downscale = check_int("conditioning_downscale", conditioning_downscale,
                                           minimum=1)
        if not isinstance(unet_config, dict):
            raise TypeError(f"unet_config must be a UNet's config dict, got "
                            f"{type(unet_config).__name__}")
        self.config = dict(unet_config=dict(unet_config),
                           conditioning_channels=conditioning_channels,
                           conditioning_downscale=conditioning_downscale)
        base = UNet(**unet_config)
        # the trainable copy: exactly the U-Net modules the encoder half uses
        self.time_embedding, self.conv_in = base.time_embedding, base.conv_in
        self.down_blocks, self.mid_block = base.down_blocks, base.mid_block
        self.in_channels = base.in_channels + base.conditioning_channels
        self.context_dim = base.context_dim
        self.conditioning_channels = conditioning_channels
        self.conditioning_downscale = conditioning_downscale
        self.skip_channels = list(base.skip_channels)
        self.controlnet_cond_embedding = ConditioningEmbedding(
            conditioning_channels, base.skip_channels[0], conditioning_downscale)
        self.controlnet_down_blocks = nn.ModuleList(zero_conv(c) for c in base.skip_channels)
        self.controlnet_mid_block = zero_conv(base.skip_channels[-1])

    @classmethod
    def from_unet(cls, unet: UNet, conditioning_channels: int = 1,
                  conditioning_downscale: int = 4) -> "ControlNet":
        """A ControlNet whose copy starts as ``unet``'s own encoder and middle block
        (weights copied, not shared: the U-Net stays frozen, the copy trains)."""
        if not isinstance(unet, UNet):
            raise TypeError(f"unet must be a UNet, got {type(unet).__name__}")
        net = cls(unet.config, conditioning_channels, conditioning_downscale)
        for name in ("time_embedding", "conv_in", "down_blocks", "mid_block"):
            getattr(net, name).load_state_dict(copy.deepcopy(getattr(unet, name).state_dict()))
        return net.to(next(unet.parameters()).device)

    def zero_convolutions(self) -> list[nn.Conv2d]:
        """The 1x1 zero convolutions: one per skip, then the middle block's."""
        return list(self.controlnet_down_blocks) + [self.controlnet_mid_block]

    def check_cond(self, controlnet_cond, latent_shape) -> torch.Tensor:
        """A condition image must be (B, conditioning_channels, h f, w f) for latents
        (B, C, h, w), f = ``conditioning_downscale``, with values in [0, 1]."""
        check_tensor("controlnet_cond", controlnet_cond, ndim=4)
        B, _, h, w = latent_shape
        f = self.conditioning_downscale
        want = (self.conditioning_channels, h * f, w * f)
        got = tuple(controlnet_cond.shape)
        if got[1:] != want or got[0] not in (1, B):
            raise ValueError(f"controlnet_cond must have shape (B, {want[0]}, {want[1]}, "
                             f"{want[2]}) (one map per image, at image resolution) for "
                             f"latents of shape {tuple(latent_shape)}, got {got}")
        lo, hi = float(controlnet_cond.min()), float(controlnet_cond.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"controlnet_cond must hold values in [0, 1] (a map, 1 = on), "
                             f"got min {lo:.3g}, max {hi:.3g}")
        return controlnet_cond

    def forward(self, x: torch.Tensor, t, context: torch.Tensor | None = None,
                controlnet_cond: torch.Tensor | None = None, conditioning_scale: float = 1.0,
                context_mask: torch.Tensor | None = None):
        if controlnet_cond is None:
            raise ValueError("controlnet_cond is required: the condition image "
                             f"(B, {self.conditioning_channels}, H, W) in [0, 1]")
        check_tensor("x", x, ndim=4)
        scale = check_number("conditioning_scale", conditioning_scale)
        cond = self.check_cond(controlnet_cond, x.shape).to(x.dtype)
        if cond.shape[0] == 1 and x.shape[0] > 1:
            cond = cond.expand(x.shape[0], -1, -1, -1)
        t = UNet._check_t(t, x.shape[0], x.device)
        skips, mid, _ = run_encoder(self, x, t, context, context_mask,
                                    self.controlnet_cond_embedding(cond))
        down = [zc(s) * scale for zc, s in zip(self.controlnet_down_blocks, skips)]
        return down, self.controlnet_mid_block(mid) * scale


class ControlledUNet(nn.Module):
    """A frozen ``UNet`` and a ``ControlNet`` called as one model, ``f(z_t, t, context)``,
    for a fixed batch of condition images (what the samplers and CFG expect).

    When classifier-free guidance stacks [uncond, cond] into one batch of 2B, the B
    condition images are repeated so both branches see the control (as diffusers does
    unless ``guess_mode``).
    """

    def __init__(self, unet: UNet, controlnet: ControlNet, controlnet_cond: torch.Tensor,
                 conditioning_scale: float = 1.0):
        super().__init__()
        self.unet, self.controlnet = unet, controlnet
        self.cond = controlnet_cond
        self.scale = float(conditioning_scale)
        self.in_channels, self.context_dim = unet.in_channels, unet.context_dim

    def forward(self, x, t, context=None, context_mask=None):
        cond = self.cond
        if cond.shape[0] not in (1, x.shape[0]):
            reps = x.shape[0] // cond.shape[0]
            cond = cond.repeat(reps, 1, 1, 1)
        down, mid = self.controlnet(x, t, context, cond, self.scale, context_mask)
        return self.unet(x, t, context, context_mask, down_residuals=down, mid_residual=mid)
