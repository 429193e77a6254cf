"""Classifier-free guidance and negative prompts (D31-Q5, Q15, D35-Q6).

Ho & Salimans 2022 train one network with the condition dropped some of the
time, so it predicts both eps(x_t, c) and eps(x_t, empty). At sampling time
(diffusers' convention, the one behind Stable Diffusion's "CFG scale"):

    eps_hat = eps_uncond + s (eps_cond - eps_uncond)

s = 1 is plain conditional sampling, s = 0 is unconditional, s > 1 pushes
past the conditional prediction. The CFG paper writes the same thing as
eps_hat = (1 + w) eps_cond - w eps_uncond (its eq. 6), so **w = s - 1**:
the paper's w = 0 is Stable Diffusion's scale 1.

A negative prompt simply replaces the empty prompt in the unconditional
branch, so guidance pushes away from it.

Guidance rescale (Lin et al. 2023, section 3.4, eq. 15-16) shrinks eps_hat
back to the standard deviation of eps_cond to undo over-exposure at high s.
"""
from __future__ import annotations

import torch

from ._checks import check_number, check_same_shape, check_tensor


def cfg(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float) -> torch.Tensor:
    """eps_uncond + scale (eps_cond - eps_uncond)."""
    check_tensor("eps_uncond", eps_uncond)
    check_tensor("eps_cond", eps_cond)
    check_same_shape("eps_uncond", eps_uncond, "eps_cond", eps_cond)
    scale = check_number("scale", scale)
    return eps_uncond + scale * (eps_cond - eps_uncond)


def paper_w_to_scale(w: float) -> float:
    """The CFG paper's w (eq. 6) as a diffusers / Stable Diffusion guidance scale: s = w + 1."""
    return check_number("w", w) + 1.0


def rescale_guidance(eps_cfg: torch.Tensor, eps_cond: torch.Tensor, guidance_rescale: float
                     ) -> torch.Tensor:
    """Lin et al. 2023, eqs. 15-16: match the per-sample std of eps_cfg to eps_cond, then mix
    a fraction ``guidance_rescale`` of the rescaled prediction with the original."""
    check_tensor("eps_cfg", eps_cfg, min_ndim=2)
    check_tensor("eps_cond", eps_cond)
    check_same_shape("eps_cfg", eps_cfg, "eps_cond", eps_cond)
    phi = check_number("guidance_rescale", guidance_rescale, minimum=0.0, maximum=1.0)
    dims = list(range(1, eps_cfg.ndim))
    std_cond = eps_cond.std(dim=dims, keepdim=True)
    std_cfg = eps_cfg.std(dim=dims, keepdim=True)
    rescaled = eps_cfg * (std_cond / std_cfg)                 # eq. 15
    return phi * rescaled + (1.0 - phi) * eps_cfg             # eq. 16


def guided(model, cond, uncond, scale: float, guidance_rescale: float = 0.0):
    """Wrap ``model(x, t, context)`` into ``f(x, t)`` that applies CFG.

    Runs both branches in one batch, as diffusers does: [uncond; cond].
    ``uncond`` is the empty prompt's context, or the negative prompt's. ``cond`` and
    ``uncond`` may also be dicts of keyword tensors (SDXL: ``context``, ``text_embeds``,
    ``time_ids``), passed as ``model(x, t, **cond)``.
    """
    if isinstance(cond, dict) or isinstance(uncond, dict):
        if not (isinstance(cond, dict) and isinstance(uncond, dict)) or set(cond) != set(uncond):
            raise ValueError("cond and uncond must both be tensors or dicts with the same keys")
        for k in cond:
            for name, v in ((f"cond[{k!r}]", cond[k]), (f"uncond[{k!r}]", uncond[k])):
                if not isinstance(v, torch.Tensor):
                    raise TypeError(f"{name} must be a tensor, got {type(v).__name__}")
            check_same_shape(f"cond[{k!r}]", cond[k], f"uncond[{k!r}]", uncond[k])

        def call(x, t, c):
            return model(x, t, **c)

        def both(a, b):
            return {k: torch.cat([a[k], b[k]]) for k in a}
    else:
        check_tensor("cond", cond)
        check_tensor("uncond", uncond)
        check_same_shape("cond", cond, "uncond", uncond)

        def call(x, t, c):
            return model(x, t, c)

        def both(a, b):
            return torch.cat([a, b])
    scale = check_number("scale", scale)

    def f(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if scale == 1.0:
            return call(x, t, cond)
        out = call(torch.cat([x, x]), torch.cat([t, t]), both(uncond, cond))
        eps_uncond, eps_cond = out.chunk(2)
        eps = cfg(eps_uncond, eps_cond, scale)
        if guidance_rescale > 0:
            eps = rescale_guidance(eps, eps_cond, guidance_rescale)
        return eps

    return f
