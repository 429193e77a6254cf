"""The course's FID: the Frechet distance between Gaussians fitted to two sets
of evaluator features (Heusel et al. 2017, "GANs trained by a two time-scale
update rule", eq. 6), with the shapes evaluator standing in for Inception.

    d^2 = |mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2))

The features are ``ShapesEvaluator.features``: conv-layer statistics plus the
penultimate vector, standardized on real scenes, so the numbers are small
(single digits for real against real at n = 500) and have no absolute meaning.

Two finite samples of the *same* distribution do not score 0: the estimate is
biased upwards, by roughly (feature dimension) / n. ``fid_floor`` measures that
floor (real scenes against fresh real scenes); read every FID against it, and
compare FIDs only at equal sample sizes.
"""
from __future__ import annotations

import torch

from .._checks import check_int, check_tensor


def _sqrtm_psd(m: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition:
    M = V diag(w) V^T  ->  M^(1/2) = V diag(sqrt(w)) V^T (negative round-off clamped to 0)."""
    w, v = torch.linalg.eigh((m + m.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """Frechet distance between N(mu_a, C_a) and N(mu_b, C_b) fitted to two
    feature sets of shape (n_a, d) and (n_b, d) (Heusel et al. 2017, eq. 6).

    tr((C_a C_b)^(1/2)) is computed as tr((A C_b A)^(1/2)) with A = C_a^(1/2):
    the two matrices are similar, and the second is symmetric PSD, so an
    eigendecomposition in float64 is enough (no scipy).
    """
    check_tensor("feats_a", feats_a, ndim=2)
    check_tensor("feats_b", feats_b, ndim=2)
    if feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(f"feats_a and feats_b must have the same feature size, got "
                         f"{feats_a.shape[1]} and {feats_b.shape[1]}")
    for name, f in (("feats_a", feats_a), ("feats_b", feats_b)):
        if f.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 rows to fit a covariance, got {f.shape[0]}")
        if not torch.isfinite(f).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    a, b = feats_a.detach().double().cpu(), feats_b.detach().double().cpu()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    root_a = _sqrtm_psd(cov_a)
    cross = _sqrtm_psd(root_a @ cov_b @ root_a)                      # similar to (C_a C_b)^(1/2)
    d2 = (mu_a - mu_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) \
        - 2 * torch.trace(cross)                                     # eq. 6
    return float(d2.clamp(min=0))


def fid_floor(evaluator, n: int = 500, seed: int = 123_456, image_size: int = 32) -> float:
    """FID of ``n`` real scenes against ``n`` fresh real scenes (seeds ``seed``
    and ``seed + 1``): the sampling noise floor every FID must be read against."""
    from ..data.shapes import make_shapes

    n = check_int("n", n, minimum=2)
    seed = check_int("seed", seed)
    real_a = make_shapes(n, seed=seed, image_size=image_size).images
    real_b = make_shapes(n, seed=seed + 1, image_size=image_size).images
    return evaluator.fid(real_a, real_b)
