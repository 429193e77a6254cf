"""How well a denoiser recovers the clean image in one step (lesson 06): the x_0 estimate
at a given noise level and its errors overall, in the detail and on the outlines.

For an epsilon model, the one-step estimate is DDPM eq. 15:

    x0_hat = (x_t - sqrt(1 - abar_t) eps_theta(x_t, t)) / sqrt(abar_t)

clipped to [-1, 1]; an x_0 ("sample") model returns it directly.
"""
from __future__ import annotations

import torch

from ..data.shapes import make_shapes
from ..forward import q_sample
from ..parameterization import split_prediction
from .images import high_pass

EVAL_TIMESTEPS = (50, 200, 500)
EVAL_IMAGES = 256
EVAL_SEED = 123_456


@torch.no_grad()
def predict_x0(model, schedule, x_t: torch.Tensor, t: int,
               prediction_type: str = "epsilon") -> torch.Tensor:
    """One-step x_0 estimate, clipped to [-1, 1]: DDPM eq. 15 for an epsilon model,
    the output itself for a "sample" (x_0) model."""
    tt = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
    x0, _ = split_prediction(schedule, model(x_t, tt), x_t, tt, prediction_type)
    return x0.clamp(-1.0, 1.0)


@torch.no_grad()
def reconstruction_errors(model, schedule, timesteps=EVAL_TIMESTEPS, n: int = EVAL_IMAGES,
                          seed: int = EVAL_SEED, batch_size: int = 128,
                          prediction_type: str = "epsilon") -> dict:
    """Per timestep: x0 MSE, high-pass MSE, MSE on the outline pixels and the MSE of the
    implied noise prediction (fresh shapes images, the same images and noise for every
    model, so two models compare pairwise)."""
    data = make_shapes(n, seed=seed)
    x0, edges = data.images, data.edges.expand(-1, 3, -1, -1)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(x0.shape, generator=gen)
    was_training = model.training
    model.eval()
    out = {}
    for t in timesteps:
        tt = torch.full((n,), t)
        x_t = q_sample(schedule, x0, tt, noise)
        output = torch.cat([model(x_t[i:i + batch_size], tt[i:i + batch_size])
                            for i in range(0, n, batch_size)])
        pred, eps = split_prediction(schedule, output, x_t, tt, prediction_type)
        pred = pred.clamp(-1.0, 1.0)
        err = (pred - x0) ** 2
        out[int(t)] = {"x0_mse": err.mean().item(),
                       "highpass_mse": ((high_pass(pred) - high_pass(x0)) ** 2).mean().item(),
                       "edge_mse": (err * edges).sum().item() / edges.sum().item(),
                       "eps_mse": ((eps - noise) ** 2).mean().item()}
    model.train(was_training)
    return out
