"""Graded tests for exercises/ex13_dreambooth.py (see conftest.py for how the folder is chosen)."""
import torch
import torch.nn.functional as F

from diffusionlab.grading import expect_close, expect_tensor
from diffusionlab.losses import dreambooth_batch_loss
from diffusionlab.nn.text import mask_embedding_grad

REFERENCE = {                   # the library's answer to each function: calling it is not passing
    "dreambooth_batch_loss": "diffusionlab.losses.dreambooth_batch_loss",
    "mask_embedding_grad": "diffusionlab.nn.text.mask_embedding_grad",
}


def _batch(B=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = torch.randn(B, 4, 8, 8, generator=g)
    target = torch.randn(B, 4, 8, 8, generator=g)
    out[:3] *= 0.2                           # instance rows fit far better than class rows
    return out, target


def test_dreambooth_loss_matches_eq2(exercise):
    ex = exercise("ex13_dreambooth")
    out, target = _batch()
    for n_inst, lam in ((3, 1.0), (3, 0.5), (5, 2.0), (1, 1.0)):
        got = ex.dreambooth_batch_loss(out, target, n_inst, lam)
        want = dreambooth_batch_loss(out, target, n_inst, lam)
        expect_close(f"dreambooth_batch_loss(num_instance={n_inst}, prior_weight={lam})",
                     expect_tensor("the loss", got, ()), want,
                     "mse(instance rows) + prior_weight * mse(class rows), each part averaged "
                     "over its own rows")


def test_dreambooth_loss_parts_are_own_means(exercise):
    ex = exercise("ex13_dreambooth")
    out, target = _batch()
    inst = F.mse_loss(out[:3], target[:3])
    prior = F.mse_loss(out[3:], target[3:])
    got = ex.dreambooth_batch_loss(out, target, 3, 0.0)
    expect_close("dreambooth_batch_loss(prior_weight=0)", expect_tensor("the loss", got, ()),
                 inst, "with lambda = 0 only the instance rows' mean squared error is left")
    got = ex.dreambooth_batch_loss(out, target, 3, 1.0) - ex.dreambooth_batch_loss(out, target, 3, 0.0)
    expect_close("dreambooth_batch_loss(lambda=1) - dreambooth_batch_loss(lambda=0)", got, prior,
                 "the class part is the mean squared error over the class rows (rows 3:)")


def test_dreambooth_loss_without_class_rows(exercise):
    ex = exercise("ex13_dreambooth")
    out, target = _batch(4)
    got = ex.dreambooth_batch_loss(out, target, 4, 1.0)
    expect_close("dreambooth_batch_loss(num_instance=B)", expect_tensor("the loss", got, ()),
                 F.mse_loss(out, target), "no class rows: plain fine-tuning, the instance loss "
                 "alone (not NaN from an empty class part)")


def test_dreambooth_loss_has_gradients(exercise):
    ex = exercise("ex13_dreambooth")
    out, target = _batch()
    out = out.clone().requires_grad_(True)
    ex.dreambooth_batch_loss(out, target, 3, 0.5).backward()
    assert out.grad is not None, "dreambooth_batch_loss: the loss must be differentiable"
    ref = out.detach().clone().requires_grad_(True)
    dreambooth_batch_loss(ref, target, 3, 0.5).backward()
    expect_close("d loss / d model_output", out.grad, ref.grad,
                 "the instance rows weighted 1 / (their count), the class rows lambda / (theirs)")


def test_mask_keeps_only_the_token_rows(exercise):
    ex = exercise("ex13_dreambooth")
    g = torch.Generator().manual_seed(3)
    grad = torch.randn(12, 5, generator=g)
    for ids in (7, [7], [2, 9], torch.tensor([11])):
        keep = grad.clone()
        got = ex.mask_embedding_grad(grad, ids)
        expect_close(f"mask_embedding_grad(grad, {ids!r})",
                     expect_tensor("the masked gradient", got, grad.shape, grad.dtype),
                     mask_embedding_grad(keep, ids),
                     "the rows token_ids unchanged, every other row exactly 0")
        assert torch.equal(grad, keep), \
            "mask_embedding_grad: the gradient it was given was changed in place; return a new tensor"


def test_mask_other_rows_exactly_zero(exercise):
    ex = exercise("ex13_dreambooth")
    grad = torch.full((6, 3), 0.5, dtype=torch.float64)
    got = expect_tensor("mask_embedding_grad(grad, [4])", ex.mask_embedding_grad(grad, [4]),
                        (6, 3), torch.float64)
    others = torch.cat([got[:4], got[5:]])
    assert int(torch.count_nonzero(others)) == 0, \
        f"mask_embedding_grad: {int(torch.count_nonzero(others))} entries outside row 4 are not 0"
    assert torch.equal(got[4], grad[4]), "mask_embedding_grad: row 4 (the new token) must be kept as is"
