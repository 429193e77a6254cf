"""The GAN training loop: alternate one discriminator step and one generator step
(Goodfellow et al. 2014, Algorithm 1 with k = 1), each with its own Adam.

It mirrors ``training.fit`` (a progress bar, the losses per step, the wall time, an EMA of
the generator's weights: Karras et al. 2018 and most GANs since sample from it), but a GAN
has two models and two losses, so it cannot be one ``loss_fn`` in ``fit``:

    for step in range(steps):
        x = sample_real(step);  z ~ N(0, I)
        L_D = softplus(-D(x)) + softplus(D(G(z).detach()))  [+ R1 on x]   -> Adam step on D
        z ~ N(0, I)
        L_G = softplus(-D(G(z)))                          (non-saturating) -> Adam step on G

Adam's betas default to (0.5, 0.999) (Radford et al. 2016, DCGAN): a short memory for the
first moment, because the target G chases moves with D.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from tqdm.auto import tqdm

from ._checks import check_int, check_number
from .gan_losses import discriminator_loss, generator_loss, r1_penalty
from .samplers import progress_disabled
from .training import EMA


@dataclass
class GanFitResult:
    d_losses: list[float] = field(default_factory=list)
    g_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    ema: EMA | None = None          # EMA of the generator (None if ema_decay is None)


def fit_gan(generator: torch.nn.Module, discriminator: torch.nn.Module,
            sample_real: Callable[[int], torch.Tensor], steps: int, batch_size: int = 256,
            lr_g: float = 2e-4, lr_d: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
            r1_gamma: float = 0.0, saturating: bool = False, ema_decay: float | None = None,
            seed: int = 0, progress: bool = True, desc: str = "gan",
            callback: Callable[[int, float, float], None] | None = None) -> GanFitResult:
    """Train ``generator`` against ``discriminator`` for ``steps`` alternating steps.

    ``sample_real(step)`` returns a batch of real data (its size is the batch size of D's
    real half); ``batch_size`` latent codes z ~ N(0, I) are drawn per player step from a
    generator seeded ``seed``. ``r1_gamma`` > 0 adds the R1 penalty to D's loss;
    ``saturating=True`` trains G on eq. 1 as written (to show why nobody does).
    ``callback(step, d_loss, g_loss)`` runs after every step.
    """
    for name, m in (("generator", generator), ("discriminator", discriminator)):
        if not isinstance(m, torch.nn.Module):
            raise TypeError(f"{name} must be a torch.nn.Module, got {type(m).__name__}")
    if not callable(sample_real):
        raise TypeError("sample_real must be callable as sample_real(step) -> tensor of real data")
    steps = check_int("steps", steps, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    lr_g = check_number("lr_g", lr_g, minimum=0.0)
    lr_d = check_number("lr_d", lr_d, minimum=0.0)
    r1_gamma = check_number("r1_gamma", r1_gamma, minimum=0.0)
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
    latent_dim = generator.latent_dim
    gen = torch.Generator().manual_seed(check_int("seed", seed))
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr_g, betas=tuple(betas))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=tuple(betas))
    result = GanFitResult(ema=EMA(generator, ema_decay) if ema_decay is not None else None)
    generator.train()
    discriminator.train()
    quiet = not progress or progress_disabled()
    start = time.perf_counter()
    bar = tqdm(range(steps), desc=desc, disable=quiet)
    for step in bar:
        # 1. discriminator step: real up, generated down (eq. 1), plus R1 on the real batch
        real = sample_real(step)
        z = torch.randn(batch_size, latent_dim, generator=gen)
        with torch.no_grad():
            fake = generator(z)
        if r1_gamma > 0:
            real = real.detach().requires_grad_(True)
        real_logits = discriminator(real)
        d_loss = discriminator_loss(real_logits, discriminator(fake))
        if r1_gamma > 0:
            d_loss = d_loss + r1_penalty(real_logits, real, r1_gamma)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        # 2. generator step on fresh z: fool the (just updated) discriminator
        z = torch.randn(batch_size, latent_dim, generator=gen)
        g_loss = generator_loss(discriminator(generator(z)), saturating=saturating)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if result.ema is not None:
            result.ema.update(generator)
        d, g = d_loss.item(), g_loss.item()
        if not (torch.isfinite(torch.tensor(d)) and torch.isfinite(torch.tensor(g))):
            raise FloatingPointError(f"GAN losses became D={d}, G={g} at step {step}")
        result.d_losses.append(d)
        result.g_losses.append(g)
        if callback is not None:
            callback(step, d, g)
        if step % 50 == 0:
            bar.set_postfix(d=f"{d:.3f}", g=f"{g:.3f}")
    result.seconds = time.perf_counter() - start
    generator.eval()
    discriminator.eval()
    return result


@torch.no_grad()
def generate(generator: torch.nn.Module, n: int, seed: int = 0, z: torch.Tensor | None = None,
             batch_size: int = 500) -> torch.Tensor:
    """n samples in ONE generator evaluation each: x = G(z), z ~ N(0, I) seeded ``seed``
    (or the given ``z``). The generator is put in eval mode (batch norm uses its running
    statistics, so a sample does not depend on the others in its batch)."""
    generator.eval()
    if z is None:
        n = check_int("n", n, minimum=1)
        z = torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(seed))
    return torch.cat([generator(chunk) for chunk in z.split(batch_size)])
