"""Exercise 11: ControlNet's zero convolution and residual injection.    Lesson: notebooks/11_controlnet.ipynb

A ControlNet (Zhang et al. 2023, Figure 3) runs a trainable copy of the U-Net's encoder on
(z_t, t, prompt, condition image) and adds what it finds to the frozen U-Net through 1x1
"zero convolutions": one per skip connection, one on the middle block. Conventions as in
``diffusionlab.nn.controlnet`` and ``diffusionlab.nn.unet``:

- skips are a list of (B, C_k, H_k, W_k) tensors (``UNet.encode`` returns them with the
  middle block's output ``mid``), one zero convolution per skip, in the same order;
- ``conditioning_scale`` s multiplies every residual (diffusers'
  ``controlnet_conditioning_scale``): s = 0 must give the frozen U-Net exactly.

Reference: diffusionlab/nn/controlnet.py (zero_conv, ControlNet.forward) and
diffusionlab/nn/unet.py (UNet.forward).
"""
import torch
from torch import nn


def zero_conv(channels: int) -> nn.Conv2d:
    """A 1x1 convolution from ``channels`` to ``channels`` whose weight AND bias are exactly 0
    (section 3.1, eq. 2): its output is 0 whatever comes in, so a fresh ControlNet changes
    nothing.

    Hint: ``nn.Conv2d(channels, channels, kernel_size=1)``, then ``nn.init.zeros_`` on both.
    """
    conv = nn.Conv2d(channels, channels, kernel_size=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def controlnet_residuals(zero_convs, copy_skips, copy_mid: torch.Tensor,
                         conditioning_scale: float = 1.0):
    """What the ControlNet hands to the U-Net: each of the copy's skip features through its own
    zero convolution, and the copy's middle-block output through the last one, all times s:

        r_k   = s * Z_k(copy_skips[k])            k = 0 .. K-1
        r_mid = s * Z_K(copy_mid)                 Z_K = zero_convs[-1]

    ``zero_convs`` has K + 1 convolutions (one per skip, then the middle block's).
    Returns ``(list of K tensors, r_mid)``.

    Hint: ``zip`` the first K convolutions with the skips.
    """
    *per_skip, last = zero_convs
    if len(per_skip) != len(copy_skips):
        raise ValueError(f"zero_convs must have one convolution per skip plus one, got "
                         f"{len(zero_convs)} for {len(copy_skips)} skips")
    down = [conditioning_scale * z(h) for z, h in zip(per_skip, copy_skips)]
    return down, conditioning_scale * last(copy_mid)


def inject(skips, mid: torch.Tensor, down_residuals, mid_residual: torch.Tensor):
    """The frozen U-Net's side of Figure 3: add residual k to skip k and the middle residual
    to the middle block's output (what ``UNet.forward(..., down_residuals=, mid_residual=)``
    does before decoding). Returns ``(new list of skips, new mid)``; the inputs are not
    changed in place.

    Hint: a list comprehension; ``a + b`` makes a new tensor, ``a += b`` changes ``a``.
    """
    return [s + r for s, r in zip(skips, down_residuals)], mid + mid_residual
