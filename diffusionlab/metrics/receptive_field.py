"""How far a network looks: the receptive field of one output pixel, measured (D35-Q7: "why
does SD duplicate objects beyond its training size? a fixed receptive field?").

Two measures, both by back-propagating from one output pixel to the input:

* ``receptive_field`` (empirical, the whole network): the gradient of the output at pixel
  (y, x), summed over output channels, with respect to the input; its magnitude summed over
  input channels is a map over the canvas. We report the share of the canvas where it is
  non-negligible (at least ``rel_threshold`` = 1 % of its peak) and the share of the
  gradient's mass that lies within a distance of the pixel (Luo et al. 2016, "Understanding
  the Effective Receptive Field in Deep CNNs": the *effective* receptive field is far
  smaller than the theoretical one and Gaussian-shaped).
* ``conv_receptive_field`` (exact, the convolutions alone): the same gradient with every
  attention block (``nn.attention.SpatialTransformer``) removed (its residual path kept) and
  every normalization's statistics frozen (so GroupNorm's global mean and variance carry no
  gradient). What is left is a stack of convolutions, up- and down-sampling, whose gradient
  is exactly zero outside its theoretical receptive field, so the support of that gradient
  *is* the analytic receptive field (for a stack of k 3x3 convolutions, 2k + 1 pixels; the
  tests check this). It is what "a fixed receptive field" means for a pure CNN.

A U-Net with self-attention (the shipped text2img has it at both its levels and in its
middle block) sees the whole canvas at any size; GroupNorm also mixes statistics of the
whole canvas. So for such a model the "fixed receptive field" explanation can only be about
the *effective* field (how much the output actually depends on far pixels), which is what
the empirical measure shows.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from .._checks import check_int, check_number, check_tensor


@dataclass
class ReceptiveField:
    """One output pixel's receptive field on an H x W input.

    gradient   (H, W) |d out(y, x) / d input|, summed over channels
    support    (H, W) bool: where the gradient is above ``rel_threshold`` of its peak
    area_share share of the canvas in ``support``
    extent     (height, width) of the bounding box of ``support``, in input pixels
    pixel      the output pixel (y, x)
    """

    gradient: torch.Tensor
    support: torch.Tensor
    area_share: float
    extent: tuple
    pixel: tuple

    def radius_for_mass(self, share: float = 0.9) -> int:
        """The smallest Chebyshev radius (input pixels) around the output pixel that holds
        ``share`` of the gradient's mass: an effective receptive field (2 r + 1 wide)."""
        H, W = self.gradient.shape
        for r in range(max(H, W)):
            if self.mass_within(r) >= share - 1e-6:          # float round-off
                return r
        return max(H, W)

    def ring_profile(self) -> list:
        """Per Chebyshev distance d = 0, 1, ... from the output pixel: the largest gradient
        on the ring at exactly that distance, relative to the gradient at the pixel itself
        (1.0 at d = 0). Unlike the mass, it does not depend on how many pixels the canvas
        has, so it compares fields on canvases of different sizes."""
        H, W = self.gradient.shape
        y, x = self.pixel
        yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
        dist = torch.maximum((yy - y).abs(), (xx - x).abs())
        peak = float(self.gradient[y, x])
        if peak <= 0:
            return [0.0] * (int(dist.max()) + 1)
        return [float(self.gradient[dist == d].max()) / peak for d in range(int(dist.max()) + 1)]

    def falloff_radius(self, rel: float = 0.01) -> int:
        """The smallest distance d from which on every ring the gradient stays below ``rel``
        of its value at the pixel itself (``ring_profile``): how far the output pixel
        depends on individual input pixels, whatever the canvas size."""
        prof = self.ring_profile()
        d = len(prof)
        while d > 0 and prof[d - 1] < rel:
            d -= 1
        return d

    def mass_within(self, radius: float) -> float:
        """Share of the gradient's L1 mass within Chebyshev distance ``radius`` (input
        pixels) of the output pixel (same resolution assumed)."""
        H, W = self.gradient.shape
        y, x = self.pixel
        yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
        near = torch.maximum((yy - y).abs(), (xx - x).abs()) <= radius
        total = self.gradient.sum()
        return float(self.gradient[near].sum() / total) if total > 0 else 0.0


def receptive_field(fn, x: torch.Tensor, pixel=None, rel_threshold: float = 0.01) -> ReceptiveField:
    """Measure the receptive field of ``fn`` (a callable (1, C, H, W) -> (1, C', H', W'))
    at output ``pixel`` (y, x) (default: the centre) for the input ``x`` (1, C, H, W)."""
    check_tensor("x", x, ndim=4)
    if x.shape[0] != 1:
        raise ValueError(f"x must hold one input (batch 1), got shape {tuple(x.shape)}")
    rel_threshold = check_number("rel_threshold", rel_threshold, minimum=0, maximum=1)
    x = x.detach().clone().requires_grad_(True)
    out = fn(x)
    check_tensor("fn(x)", out, ndim=4)
    Ho, Wo = out.shape[-2:]
    if pixel is None:
        pixel = (Ho // 2, Wo // 2)
    y = check_int("pixel[0]", int(pixel[0]), minimum=0, maximum=Ho - 1)
    xx = check_int("pixel[1]", int(pixel[1]), minimum=0, maximum=Wo - 1)
    (grad,) = torch.autograd.grad(out[0, :, y, xx].sum(), x)
    return receptive_field_from_gradient(grad[0].abs().sum(0).detach(), (y, xx), rel_threshold)


class _FrozenStatsGroupNorm(nn.Module):
    """GroupNorm whose mean and variance are treated as constants (no gradient)."""

    def __init__(self, norm: nn.GroupNorm):
        super().__init__()
        self.norm = norm

    def forward(self, x):
        n = self.norm
        B, C = x.shape[:2]
        g = x.view(B, n.num_groups, -1)
        mean = g.mean(-1, keepdim=True).detach()
        var = g.var(-1, keepdim=True, unbiased=False).detach()
        y = ((g - mean) / torch.sqrt(var + n.eps)).view_as(x)
        if n.affine:
            shape = (1, C) + (1,) * (x.ndim - 2)
            y = y * n.weight.view(shape) + n.bias.view(shape)
        return y


class _Identity(nn.Module):
    def forward(self, x, *args, **kwargs):
        return x


@contextlib.contextmanager
def convolutions_only(model: nn.Module):
    """Temporarily remove ``model``'s attention blocks (kept: their residual, the identity)
    and freeze its normalization statistics, leaving its convolutional path."""
    from ..nn.attention import SpatialTransformer

    swapped = [(parent, name, child) for parent in model.modules()
               for name, child in parent.named_children()
               if isinstance(child, (SpatialTransformer, nn.GroupNorm))]
    for parent, name, child in swapped:
        setattr(parent, name, _Identity() if isinstance(child, SpatialTransformer)
                else _FrozenStatsGroupNorm(child))
    try:
        yield model
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)


def conv_receptive_field(model: nn.Module, fn, x: torch.Tensor, pixel=None) -> ReceptiveField:
    """The exact receptive field of ``model``'s convolutional path (module docstring):
    ``fn(x)`` runs ``model``; the support is where the gradient is not zero (above 1e-12 of
    its peak, to ignore round-off)."""
    with convolutions_only(model):
        return receptive_field(fn, x, pixel=pixel, rel_threshold=1e-12)


def conv_stack_field(kernel_sizes, strides=None) -> int:
    """The analytic receptive field (pixels) of a chain of convolutions: r = 1 + sum_l
    (k_l - 1) * prod_{i < l} s_i (the textbook recurrence). For checking the measure."""
    strides = [1] * len(kernel_sizes) if strides is None else list(strides)
    r, jump = 1, 1
    for k, s in zip(kernel_sizes, strides):
        r += (k - 1) * jump
        jump *= s
    return r


def unet_conv_field(config: dict) -> int:
    """The analytic receptive field (latent pixels) of ``nn.unet.UNet``'s convolutional
    path, from its config, by the recurrence of ``conv_stack_field`` along the U's longest
    path: conv_in, every encoder ResBlock (two 3x3 convs) and Downsample (3x3, stride 2),
    the middle block's two ResBlocks, every decoder ResBlock (``layers_per_block`` + 1 per
    level) and Upsample (nearest x2, then a 3x3 conv: the jump halves), conv_out. The
    shipped text2img U-Net: 61 (equal to the measured support; tested)."""
    levels = len(config["channel_mults"])
    per_block = config["layers_per_block"]
    r, jump = 1, 1.0
    r += 2 * jump                                                    # conv_in
    for i in range(levels):
        r += 4 * jump * per_block                                    # ResBlocks
        if i < levels - 1:
            r += 2 * jump                                            # Downsample
            jump *= 2
    r += 8 * jump                                                    # mid: two ResBlocks
    for i in reversed(range(levels)):
        r += 4 * jump * (per_block + 1)
        if i > 0:
            jump /= 2                                                # Upsample (nearest)
            r += 2 * jump                                            # and its conv
    r += 2 * jump                                                    # conv_out
    return int(r)


def unet_fields(unet: nn.Module, context: torch.Tensor | None, sizes, timesteps=(250, 500, 750),
                seeds=(0, 1, 2), channels: int | None = None) -> dict:
    """For each latent size s in ``sizes``: the U-Net's receptive field at the centre pixel
    of s x s Gaussian latents, the gradient maps averaged over ``timesteps`` x ``seeds``
    (full network), and the exact receptive field of its convolutional path.
    Returns {s: {"full": ReceptiveField, "conv": ReceptiveField}}."""
    channels = channels or unet.config["in_channels"]
    out = {}
    was_training = unet.training
    unet.eval()
    try:
        for s in sizes:
            s = check_int("size", s, minimum=2)
            maps = []
            for seed in seeds:
                x = torch.randn(1, channels, s, s, generator=torch.Generator().manual_seed(seed))
                for t in timesteps:
                    def fn(z, t=t):
                        return unet(z, torch.tensor([t]), context)
                    maps.append(receptive_field(fn, x).gradient)
            full = receptive_field_from_gradient(torch.stack(maps).mean(0), (s // 2, s // 2))
            out[s] = {"full": full, "conv": conv_receptive_field(unet, fn, x)}
    finally:
        unet.train(was_training)
    return out


def receptive_field_from_gradient(gradient: torch.Tensor, pixel,
                                  rel_threshold: float = 0.01) -> ReceptiveField:
    """A ``ReceptiveField`` from a gradient map (H, W) (e.g. one averaged over inputs)."""
    check_tensor("gradient", gradient, ndim=2)
    peak = gradient.max()
    support = gradient > rel_threshold * peak if peak > 0 else torch.zeros_like(
        gradient, dtype=torch.bool)
    if support.any():
        rows, cols = support.any(1).nonzero(), support.any(0).nonzero()
        extent = (int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1))
    else:
        extent = (0, 0)
    return ReceptiveField(gradient=gradient, support=support,
                          area_share=float(support.float().mean()), extent=extent,
                          pixel=tuple(int(p) for p in pixel))


__all__ = ["ReceptiveField", "conv_receptive_field", "conv_stack_field", "convolutions_only",
           "receptive_field", "receptive_field_from_gradient", "unet_conv_field", "unet_fields"]
