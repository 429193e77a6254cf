"""The variational bound on -log p_theta(x_0) of a trained epsilon-prediction model
(DDPM, Ho et al. 2020, eq. 5): what a diffusion model gives and a GAN cannot, a number per
sample that upper-bounds its negative log-likelihood.

    -log p(x_0) <= L = L_T + sum_{t=2}^{T} L_{t-1} + L_0
    L_T     = KL( q(x_T | x_0) || N(0, I) )                        (no parameters)
    L_{t-1} = KL( q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t) ) (eq. 5, one x_t per t)
    L_0     = -log p_theta(x_0 | x_1)

In this library's 0-based timesteps, index t holds DDPM's x_{t+1}. p_theta(x_{t-1} | x_t) has
the posterior's variance beta_tilde_t (DDPM's "fixed small" choice) and the mean of the
posterior with x_0 replaced by the model's estimate (eq. 11 in x_0 form), so each L_{t-1}
is |mu_tilde(x_t, x_0) - mu_tilde(x_t, x0_hat)|^2 / (2 beta_tilde_t). The decoder L_0 is a
Gaussian N(x0_hat(x_1), beta_1 I): a *continuous* density, the right choice for 2-D toy
data (for 8-bit images DDPM uses a discretized decoder instead, eq. 13).

Every term is in nats per sample, summed over the data dimensions. The estimate draws one
x_t per timestep and sample (an unbiased estimate of the bound). With ``num_terms`` = K < T - 1
the sum over t is estimated from K timesteps (stratified: one drawn uniformly in each
stratum of 1 .. T-1, weighted by the size of its stratum): still unbiased,
(T - 1) / K times cheaper, noisier. The first terms are the largest and change fastest with t
(lesson 03: the bound's weight sits at small t), so the first ``EXACT_TERMS`` (at most K / 2)
are always computed exactly and only the rest are stratified.
"""
from __future__ import annotations

import math

import torch

from .._checks import check_int, check_tensor
from ..forward import q_posterior, q_sample
from ..parameterization import x0_from_eps
from ..schedules import NoiseSchedule, extract


EXACT_TERMS = 50


@torch.no_grad()
def ddpm_bound(model, schedule: NoiseSchedule, x0: torch.Tensor,
               generator: torch.Generator | None = None, num_terms: int | None = None) -> dict:
    """Per-sample terms of DDPM's bound (eq. 5) for an epsilon-prediction ``model(x_t, t)``.

    Returns {"prior": (n,), "diffusion": (n,), "decoder": (n,), "total": (n,)} in nats;
    ``total`` >= -log p_theta(x_0) for every sample (up to the Monte Carlo noise of one x_t
    per step).
    """
    check_tensor("x0", x0, min_ndim=2)
    n, T = x0.shape[0], schedule.num_timesteps
    dims = tuple(range(1, x0.ndim))
    x0 = x0.double()

    def full(t):
        return torch.full((n,), t, dtype=torch.long)

    def eps_model(x_t, t):
        return model(x_t.float(), full(t)).double()

    # L_T: KL(N(sqrt(abar) x0, (1 - abar) I) || N(0, I)), per dimension
    abar = float(schedule.alphas_cumprod[T - 1])
    mean = math.sqrt(abar) * x0
    var = 1.0 - abar
    prior = 0.5 * (var + mean.pow(2) - 1.0 - math.log(var)).sum(dims)
    # L_{t-1}, t = 1 .. T-1: KL between Gaussians with the same variance beta_tilde_t
    steps, weights = list(range(1, T)), [1.0] * (T - 1)
    if num_terms is not None:
        K = check_int("num_terms", num_terms, minimum=1, maximum=T - 1)
        exact = min(EXACT_TERMS, K // 2)                    # the large, fast-changing terms
        rest, width = K - exact, (T - 1 - exact) // max(1, K - exact)
        starts = [1 + exact + k * width for k in range(rest)]
        sizes = [width] * (rest - 1) + [T - starts[-1]] if rest else []
        steps = list(range(1, 1 + exact)) + [
            a + int(torch.randint(size, (1,), generator=generator)) for a, size in zip(starts, sizes)]
        weights = [1.0] * exact + [float(size) for size in sizes]
    diffusion = torch.zeros(n, dtype=torch.float64)
    for t, w in zip(steps, weights):
        noise = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
        x_t = q_sample(schedule, x0, full(t), noise)
        x0_hat = x0_from_eps(schedule, x_t, full(t), eps_model(x_t, t))
        mu_q, var_t = q_posterior(schedule, x0, x_t, full(t))
        mu_p, _ = q_posterior(schedule, x0_hat, x_t, full(t))
        diffusion += w * ((mu_q - mu_p).pow(2) / (2 * var_t)).sum(dims)        # eq. 5
    # L_0: -log N(x0; x0_hat(x_1), beta_1 I)
    noise = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
    x_1 = q_sample(schedule, x0, full(0), noise)
    x0_hat = x0_from_eps(schedule, x_1, full(0), eps_model(x_1, 0))
    beta = extract(schedule.betas, full(0), x0)
    decoder = (0.5 * (x0 - x0_hat).pow(2) / beta + 0.5 * torch.log(2 * math.pi * beta)).sum(dims)
    return {"prior": prior, "diffusion": diffusion, "decoder": decoder,
            "total": prior + diffusion + decoder}


def mixture_nll(x: torch.Tensor, centres: torch.Tensor, std: float) -> torch.Tensor:
    """Exact -log p(x) (nats) under an equal-weight mixture of isotropic Gaussians: the
    true density of the 2-D mixture toys, which no sampler's bound can beat on average."""
    check_tensor("x", x, ndim=2)
    d = x.shape[1]
    sq = torch.cdist(x.double(), centres.double()).pow(2)
    log_comp = -sq / (2 * std ** 2) - 0.5 * d * math.log(2 * math.pi * std ** 2)
    return -(torch.logsumexp(log_comp, dim=1) - math.log(centres.shape[0]))
