"""Exercise 09: classifier-free guidance.    Lesson: notebooks/09_classifier_free_guidance.ipynb

Classifier-free guidance (Ho & Salimans 2022) trains ONE network with the prompt dropped
some of the time (replaced by the empty prompt), so it can predict both eps(x_t, c) and
eps(x_t, empty). At sampling time the two predictions are extrapolated. Conventions as in
``diffusionlab.guidance`` and diffusers:

- ``scale`` is Stable Diffusion's guidance scale s: s = 1 is plain conditional sampling,
  s = 0 is unconditional; the CFG paper's w is s - 1;
- a negative prompt is simply what you pass as ``uncond``;
- tensors are (B, C, H, W) (any shape with a leading batch dimension works).

Grade it:  python -m diffusionlab grade 09      (or, in a notebook: check("09"))
"""
import torch


def cfg(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float) -> torch.Tensor:
    """The guided prediction (diffusers' convention; the CFG paper's eq. 6 with w = s - 1):

        eps_hat = eps_uncond + s (eps_cond - eps_uncond)

    Hint: one line. Check yourself: s = 0 gives eps_uncond, s = 1 gives eps_cond, and s = 7.5
    goes 6.5 times *past* eps_cond, away from eps_uncond.
    """
    return eps_uncond + scale * (eps_cond - eps_uncond)


def rescale_guidance(eps_cfg: torch.Tensor, eps_cond: torch.Tensor,
                     guidance_rescale: float) -> torch.Tensor:
    """Guidance rescale (Lin et al. 2023, "Common diffusion noise schedules and sample steps
    are flawed", section 3.4). A large s inflates the prediction's scale, which over-exposes
    ("fries") the image; rescale it back to the conditional prediction's standard deviation,
    per sample, then mix with the original by phi = ``guidance_rescale`` in [0, 1]:

        eps_rescaled = eps_cfg * std(eps_cond) / std(eps_cfg)                 (eq. 15)
        eps_final    = phi eps_rescaled + (1 - phi) eps_cfg                     (eq. 16)

    std is taken over every dimension except the batch (one number per sample).

    Hint: ``dims = list(range(1, x.ndim))`` and ``x.std(dim=dims, keepdim=True)``.
    """
    dims = list(range(1, eps_cfg.ndim))
    std_cond = eps_cond.std(dim=dims, keepdim=True)
    std_cfg = eps_cfg.std(dim=dims, keepdim=True)
    rescaled = eps_cfg * (std_cond / std_cfg)
    return guidance_rescale * rescaled + (1.0 - guidance_rescale) * eps_cfg


def guided_eps(model, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor,
               uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """One guided prediction with BOTH branches in ONE batched call of
    ``model(x, t, context)`` (what diffusers does: a step costs one U-Net pass on a batch
    twice as large, not two passes):

        out = model(cat([x, x]), cat([t, t]), cat([uncond, cond]))     (2B, ...)
        eps_uncond, eps_cond = the two halves of out
        return cfg(eps_uncond, eps_cond, scale)

    x: (B, C, H, W) noisy latents, t: (B,) timesteps, cond / uncond: (B, L, D) token states
    of the prompt and of the empty (or negative) prompt.

    Hint: ``torch.cat([...], dim=0)`` and ``out.chunk(2)``; call the model exactly once.
    """
    out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([uncond, cond]))
    eps_uncond, eps_cond = out.chunk(2)
    return cfg(eps_uncond, eps_cond, scale)
