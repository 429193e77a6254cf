"""Wrong answers learners write for exercise 13, as edits of solutions/ex13_dreambooth.py
(format: see ex01_forward.py)."""

_RET = "return instance + prior_weight * prior"
_INST = "instance = F.mse_loss(model_output[:num_instance], target[:num_instance])"

MUTANTS = {
    "dreambooth_batch_loss: one mean over the whole batch": (
        _RET, "return F.mse_loss(model_output, target) * (1 + prior_weight) / 2"),
    "dreambooth_batch_loss: lambda on the instance loss": (
        _RET, "return prior_weight * instance + prior"),
    "dreambooth_batch_loss: lambda ignored": (_RET, "return instance + prior"),
    "dreambooth_batch_loss: sums instead of means": (
        _RET, "return (instance * num_instance + prior_weight * prior "
              "* (model_output.shape[0] - num_instance))"),
    "dreambooth_batch_loss: instance and class rows swapped": (
        _INST, "instance = F.mse_loss(model_output[num_instance:], target[num_instance:])"),
    "dreambooth_batch_loss: off by one at the split": (
        _INST, "instance = F.mse_loss(model_output[:num_instance + 1], target[:num_instance + 1])"),
    "dreambooth_batch_loss: no class rows gives NaN": (
        "    if num_instance == model_output.shape[0]:\n        return instance\n", ""),
    "mask_embedding_grad: edits the gradient in place": (
        "    return grad * keep\n", "    grad *= keep\n    return grad\n"),
    "mask_embedding_grad: zeroes the token rows instead": (
        "    keep = torch.zeros(grad.shape[0], 1, dtype=grad.dtype)\n    keep[ids] = 1\n",
        "    keep = torch.ones(grad.shape[0], 1, dtype=grad.dtype)\n    keep[ids] = 0\n"),
    "mask_embedding_grad: only the first id kept": (
        "    keep[ids] = 1\n", "    keep[ids[0]] = 1\n"),
    "mask_embedding_grad: the gradient detached to ones": (
        "    return grad * keep\n", "    return keep.expand_as(grad).clone()\n"),
}
