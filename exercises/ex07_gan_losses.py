"""Exercise 07: the GAN losses, and counting the modes a generator covers.
Lesson: notebooks/07_diffusion_vs_gans.ipynb

A GAN's discriminator D returns a logit: sigmoid(D(x)) is the probability that x is real.
Write every log-probability with softplus, which never takes the log of 0:

    log sigmoid(a)     = -softplus(-a)
    log(1 - sigmoid(a)) = -softplus(a)

Conventions as in ``diffusionlab.gan_losses`` and ``diffusionlab.metrics.toy2d``: every loss is
a scalar tensor, a mean over the batch (so its value does not depend on the batch size).

Reference: diffusionlab/gan_losses.py and diffusionlab/metrics/toy2d.py (modes_covered).
"""
import torch
import torch.nn.functional as F  # noqa: F401


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss: the negative of its objective in Goodfellow et al. 2014, eq. 1,

        L_D = -E_x[log sigmoid(D(x))] - E_z[log(1 - sigmoid(D(G(z))))]
            =  E_x[softplus(-D(x))]   + E_z[softplus(D(G(z)))]

    ``real_logits`` = D(x) on a batch of real data, ``fake_logits`` = D(G(z)) on a batch of
    generated samples (the two batches may differ in size). At D = 0 everywhere (a coin flip)
    it is 2 log 2.

    Hint: ``F.softplus``; one mean per batch, then add.
    """
    raise NotImplementedError


def generator_loss(fake_logits: torch.Tensor, saturating: bool = False) -> torch.Tensor:
    """The generator's loss on D's logits for generated samples.

    Non-saturating (the default; Goodfellow et al. 2014, section 3): maximise log D(G(z)),

        L_G = -E_z[log sigmoid(D(G(z)))] = E_z[softplus(-D(G(z)))]

    Saturating (``saturating=True``): eq. 1 as written, minimise log(1 - D(G(z))),

        L_G = E_z[log(1 - sigmoid(D(G(z))))] = -E_z[softplus(D(G(z)))]

    Both push D(G(z)) up; the saturating one has a vanishing gradient when D confidently
    rejects the samples (D(G(z)) very negative), which is where training starts.

    Hint: one line each.
    """
    raise NotImplementedError


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """The R1 gradient penalty on real data (Mescheder et al. 2018, eq. 9):

        R1 = (gamma / 2) E_x[ ||grad_x D(x)||^2 ]

    ``real`` has requires_grad=True and ``real_logits = D(real)`` (one logit per sample). The
    squared norm is over all of a sample's dimensions (2 for a point, C x H x W for an image);
    the mean is over the batch. The penalty is itself trained on, so the gradient must keep
    its graph.

    Hint: ``torch.autograd.grad(real_logits.sum(), real, create_graph=True)`` returns a
    one-element tuple; ``.flatten(1)`` gives one row per sample.
    """
    raise NotImplementedError


def modes_covered(samples: torch.Tensor, centres: torch.Tensor, radius: float = 0.3,
                  min_share: float = 0.01) -> int:
    """How many modes a generator covers: assign each sample (n, 2) to its nearest centre
    (K, 2); keep only samples closer than ``radius`` to it; a mode is covered when it keeps
    at least ``min_share`` of ALL n samples. Returns a Python int in 0..K.

    Hint: ``torch.cdist(samples, centres)`` is (n, K); ``.min(dim=1)`` gives the distance and
    the index of the nearest centre; ``torch.bincount(..., minlength=K)`` counts per mode.
    """
    raise NotImplementedError

