"""Graded tests for exercises/ex07_gan_losses.py (see conftest.py for how the folder is chosen)."""
import math

import torch

from diffusionlab import gan_losses
from diffusionlab.data.toy2d import toy_modes
from diffusionlab.grading import expect_close, expect_number, expect_tensor
from diffusionlab.metrics.toy2d import modes_covered as library_modes_covered

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "discriminator_loss": "diffusionlab.gan_losses.discriminator_loss",
    "generator_loss": "diffusionlab.gan_losses.generator_loss",
    "r1_penalty": "diffusionlab.gan_losses.r1_penalty",
    "modes_covered": "diffusionlab.metrics.toy2d.modes_covered",
}


def _logits(n, seed, scale=2.0):
    return scale * torch.randn(n, generator=torch.Generator().manual_seed(seed))


def _scalar(name, got):
    got = expect_tensor(name, got)
    assert got.ndim == 0, f"{name} should be a scalar (0-dim) tensor, a mean over the batch, " \
                          f"got shape {tuple(got.shape)}"
    return got


def test_discriminator_loss_matches_eq1(exercise):
    ex = exercise("ex07_gan_losses")
    for n_real, n_fake, seed in ((64, 64, 0), (32, 96, 1)):
        real, fake = _logits(n_real, seed), _logits(n_fake, seed + 10)
        got = _scalar("discriminator_loss", ex.discriminator_loss(real, fake))
        expect_close(f"discriminator_loss (batches {n_real} real, {n_fake} fake)", got,
                     gan_losses.discriminator_loss(real, fake),
                     "mean softplus(-D(x)) over the real batch + mean softplus(D(G(z))) over "
                     "the fake batch")
    coin = ex.discriminator_loss(torch.zeros(8), torch.zeros(8))
    expect_number("discriminator_loss at D = 0 (a coin flip)", float(coin), 2 * math.log(2),
                  "2 log 2", rel=1e-5)


def test_discriminator_loss_rewards_the_right_side(exercise):
    ex = exercise("ex07_gan_losses")
    good = float(ex.discriminator_loss(torch.full((8,), 4.0), torch.full((8,), -4.0)))
    bad = float(ex.discriminator_loss(torch.full((8,), -4.0), torch.full((8,), 4.0)))
    assert good < bad, ("discriminator_loss should be small when D says real for real data "
                        f"(logit +4) and fake for fakes (logit -4): got {good:.3g}, and {bad:.3g} "
                        "for the opposite (real and fake swapped?)")


def test_discriminator_loss_is_stable_for_confident_logits(exercise):
    ex = exercise("ex07_gan_losses")
    real, fake = torch.tensor([-120.0, 3.0]), torch.tensor([150.0, -2.0])
    got = _scalar("discriminator_loss", ex.discriminator_loss(real, fake))
    assert torch.isfinite(got), ("discriminator_loss is not finite for logits of +-150: "
                                 "log(sigmoid(a)) underflows; write it as -softplus(-a)")
    expect_close("discriminator_loss for logits of +-150", got,
                 gan_losses.discriminator_loss(real, fake), "softplus, exact for any logit")


def test_generator_loss_both_forms(exercise):
    ex = exercise("ex07_gan_losses")
    fake = _logits(50, 3)
    expect_close("generator_loss (non-saturating)",
                 _scalar("generator_loss", ex.generator_loss(fake)),
                 gan_losses.generator_loss(fake), "mean softplus(-D(G(z)))")
    expect_close("generator_loss(saturating=True)",
                 _scalar("generator_loss", ex.generator_loss(fake, saturating=True)),
                 gan_losses.generator_loss(fake, saturating=True),
                 "mean log(1 - sigmoid(D(G(z)))) = -mean softplus(D(G(z)))")


def test_generator_gradients_saturate_only_in_the_saturating_form(exercise):
    ex = exercise("ex07_gan_losses")
    for saturating in (False, True):
        a = torch.tensor([-8.0, -8.0, 0.0, 0.0], requires_grad=True)   # rejected, undecided
        ex.generator_loss(a, saturating=saturating).backward()
        assert a.grad is not None, "generator_loss must be differentiable in fake_logits"
        assert bool((a.grad < 0).all()), (
            f"generator_loss(saturating={saturating}): minimising it must push every D(G(z)) "
            f"UP (negative gradient), got gradients {a.grad.tolist()}")
        rejected, undecided = float(a.grad[0].abs()), float(a.grad[2].abs())
        if saturating:
            assert rejected < 0.01 * undecided, (
                "generator_loss(saturating=True): where D rejects a sample (logit -8) the "
                f"gradient should nearly vanish, got {rejected:.3g} vs {undecided:.3g} at logit 0")
        else:
            assert rejected > undecided, (
                "generator_loss (non-saturating): where D rejects a sample (logit -8) the "
                f"gradient should be LARGEST, got {rejected:.3g} vs {undecided:.3g} at logit 0")


def _toy_d(dim):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(dim, 16), torch.nn.Tanh(),
                               torch.nn.Linear(16, 1), torch.nn.Flatten(0))


def _r1_case(shape, seed):
    dim = math.prod(shape[1:])
    d = _toy_d(dim)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).requires_grad_(True)
    return d, x


def test_r1_penalty_matches_eq9(exercise):
    ex = exercise("ex07_gan_losses")
    for shape, gamma in (((32, 2), 1.0), ((6, 3, 4, 4), 10.0), ((32, 2), 0.1)):
        d, x = _r1_case(shape, 4)
        got = _scalar("r1_penalty", ex.r1_penalty(d(x), x, gamma))
        d2, x2 = _r1_case(shape, 4)
        expect_close(f"r1_penalty for a batch of shape {shape}, gamma {gamma}", got,
                     gan_losses.r1_penalty(d2(x2), x2, gamma),
                     "(gamma / 2) * mean over the batch of the SQUARED norm of grad_x D(x), "
                     "summed over each sample's dimensions")


def test_r1_penalty_trains_the_discriminator(exercise):
    ex = exercise("ex07_gan_losses")
    d, x = _r1_case((16, 2), 5)
    got = ex.r1_penalty(d(x), x, 1.0)
    assert isinstance(got, torch.Tensor) and got.requires_grad, (
        "r1_penalty: the penalty must keep its graph (torch.autograd.grad(..., "
        "create_graph=True)) so that it can train D")
    got.backward()
    d2, x2 = _r1_case((16, 2), 5)
    gan_losses.r1_penalty(d2(x2), x2, 1.0).backward()
    for (name, p), p2 in zip(d.named_parameters(), d2.parameters()):
        if p2.grad is None:                   # the last bias does not move grad_x D(x)
            continue
        assert p.grad is not None, f"r1_penalty: no gradient reached D's parameter {name}"
        expect_close(f"gradient of r1_penalty on D's {name}", p.grad, p2.grad,
                     "the gradient of (gamma/2) E||grad_x D(x)||^2 with respect to D's weights")


def _clusters(counts, centres, jitter=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    parts = [centres[k] + jitter * torch.randn(c, 2, generator=g) for k, c in counts.items()]
    return torch.cat(parts)


def test_modes_covered_counts_modes(exercise):
    ex = exercise("ex07_gan_losses")
    centres = toy_modes("25gaussians")
    x = _clusters({0: 300, 3: 300, 7: 300, 12: 100}, centres)
    got = ex.modes_covered(x, centres)
    assert type(got) is int, f"modes_covered should return a Python int, got {type(got).__name__}"
    assert got == 4, f"modes_covered: 4 modes hold samples, got {got}"
    assert got == library_modes_covered(x, "25gaussians")[0]
    far = torch.cat([x, centres[20] + torch.tensor([[0.32, 0.0]]).repeat(200, 1)])
    got = ex.modes_covered(far, centres)
    assert got == 4, ("modes_covered: 200 samples 0.32 from mode 20 are farther than radius "
                      f"0.3 and must not cover it; got {got} modes instead of 4")
    got = ex.modes_covered(far, centres, radius=0.35)
    assert got == 5, f"modes_covered(radius=0.35): those 200 samples now cover mode 20; got {got}"


def test_modes_covered_share_is_of_all_samples(exercise):
    ex = exercise("ex07_gan_losses")
    centres = toy_modes("25gaussians")
    # 1000 samples: mode 1 holds exactly 10 (1% of ALL, covered), mode 2 holds 9 (not),
    # 900 samples sit far from every centre (they count in n, not in any mode)
    x = _clusters({0: 81, 1: 10, 2: 9}, centres, jitter=0.02)
    x = torch.cat([x, torch.full((900, 2), 5.0)])
    got = ex.modes_covered(x, centres)
    assert got == 2, ("modes_covered: a mode is covered with >= min_share of ALL n samples "
                      f"(10 of 1000 is exactly 1%: covered; 9 is not); got {got}, expected 2")
    got = ex.modes_covered(x, centres, min_share=0.05)
    assert got == 1, f"modes_covered(min_share=0.05): only mode 0 holds >= 50 samples; got {got}"
