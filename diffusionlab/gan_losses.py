"""GAN losses (D31-Q1), written on logits: D(x) is a logit, sigmoid(D(x)) the probability
that x is real. With log sigmoid(a) = -softplus(-a) and log(1 - sigmoid(a)) = -softplus(a),
every term is a softplus, which is numerically safe where log(sigmoid(.)) is not.

Goodfellow et al. 2014, eq. 1, the minimax game:

    min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))]

The discriminator's loss (the negative of its objective, a binary cross-entropy):

    L_D = E_x[softplus(-D(x))] + E_z[softplus(D(G(z)))]

The generator's loss in the game itself, "saturating" (eq. 1 as written):

    L_G^sat = E_z[log(1 - D(G(z)))] = -E_z[softplus(D(G(z)))]

Its gradient vanishes exactly when G is bad (D(G(z)) -> -inf early in training), so the
paper (section 3) trains G to maximise log D(G(z)) instead, the "non-saturating" loss:

    L_G^ns = -E_z[log D(G(z))] = E_z[softplus(-D(G(z)))]

The R1 penalty (Mescheder et al. 2018, eq. 9) pushes D's gradient to 0 on real data,
which removes the rotation around the equilibrium that makes plain GAN training oscillate:

    R1 = (gamma / 2) E_x[ ||grad_x D(x)||^2 ]
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import check_number, check_tensor


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """L_D = E[softplus(-D(x))] + E[softplus(D(G(z)))] (Goodfellow et al. 2014, eq. 1, negated)."""
    check_tensor("real_logits", real_logits)
    check_tensor("fake_logits", fake_logits)
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, saturating: bool = False) -> torch.Tensor:
    """The generator's loss on D's logits for generated samples.

    Non-saturating (default, Goodfellow et al. 2014, section 3): -E[log D(G(z))]
    = E[softplus(-D(G(z)))]. ``saturating=True``: eq. 1 as written, E[log(1 - D(G(z)))]
    = -E[softplus(D(G(z)))], whose gradient vanishes when D rejects G's samples.
    """
    check_tensor("fake_logits", fake_logits)
    if saturating:
        return -F.softplus(fake_logits).mean()
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """(gamma / 2) E_x ||grad_x D(x)||^2 on real data (Mescheder et al. 2018, eq. 9).

    ``real`` must have ``requires_grad=True`` and ``real_logits = D(real)``; the gradient is
    taken with ``create_graph=True`` so the penalty itself can be backpropagated into D.
    """
    check_tensor("real_logits", real_logits)
    check_tensor("real", real)
    gamma = check_number("gamma", gamma, minimum=0.0)
    if not real.requires_grad:
        raise ValueError("real must have requires_grad=True (call real.requires_grad_() before "
                         "computing real_logits = D(real)), so that grad_x D(x) exists")
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return 0.5 * gamma * grad.pow(2).flatten(1).sum(1).mean()       # eq. 9
