"""Wrong answers learners write for exercise 11, as edits of solutions/ex11_controlnet.py
(format: see ex01_forward.py)."""

_RESIDUALS = "down = [conditioning_scale * z(h) for z, h in zip(per_skip, copy_skips)]"
_INJECT = "return [s + r for s, r in zip(skips, down_residuals)], mid + mid_residual"

MUTANTS = {
    "zero_conv: the bias left at its random init": ("    nn.init.zeros_(conv.bias)\n", ""),
    "zero_conv: the weight left at its random init": ("    nn.init.zeros_(conv.weight)\n", ""),
    "zero_conv: a 3x3 kernel": ("conv = nn.Conv2d(channels, channels, kernel_size=1)",
                                "conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1)"),
    "zero_conv: no bias at all": ("conv = nn.Conv2d(channels, channels, kernel_size=1)",
                                  "conv = nn.Conv2d(channels, channels, kernel_size=1, bias=False)"),
    "zero_conv: frozen weights": ("    return conv\n", "    conv.requires_grad_(False)\n    return conv\n"),
    "controlnet_residuals: scale ignored": (
        _RESIDUALS, "down = [z(h) for z, h in zip(per_skip, copy_skips)]"),
    "controlnet_residuals: scale left off the middle residual": (
        "return down, conditioning_scale * last(copy_mid)", "return down, last(copy_mid)"),
    "controlnet_residuals: skips taken in reverse order": (
        "zip(per_skip, copy_skips)", "zip(per_skip, reversed(copy_skips))"),
    "controlnet_residuals: the first conv used for the middle": (
        "return down, conditioning_scale * last(copy_mid)",
        "return down, conditioning_scale * zero_convs[0](copy_mid)"),
    "controlnet_residuals: scale applied to the weights only (bias unscaled)": (
        _RESIDUALS, "down = [torch.nn.functional.conv2d(h, conditioning_scale * z.weight, z.bias) "
                    "for z, h in zip(per_skip, copy_skips)]"),
    "inject: middle residual forgotten": (_INJECT, "return [s + r for s, r in zip(skips, down_residuals)], mid"),
    "inject: in place": (_INJECT, "for s, r in zip(skips, down_residuals):\n        s += r\n"
                                  "    mid += mid_residual\n    return skips, mid"),
    "inject: residuals paired with the skips reversed": (
        _INJECT, "return [s + r for s, r in zip(skips, reversed(down_residuals))], mid + mid_residual"),
}
