"""Exercise 13: DreamBooth's prior-preservation loss and textual inversion's one-row update.
Lesson: notebooks/13_dreambooth_textual_inversion.ipynb

DreamBooth (Ruiz et al. 2023, eq. 2) fine-tunes the U-Net on a subject's few images with the
prompt "a [V] circle", and keeps the class word meaning the class by also training on class
images the frozen model generated for "a circle". Both go through the U-Net as ONE batch
(instance rows first, then class rows), and the loss is split back in two:

    L = mean over instance rows ||eps - eps_theta||^2 + lambda * mean over class rows ||...||^2

Textual inversion (Gal et al. 2022, eq. 2) learns ONE new row of the text encoder's embedding
table; every other row must stay exactly as it was, so the table's gradient keeps only that
row (or rows).

Reference: diffusionlab/losses.py (dreambooth_batch_loss) and diffusionlab/nn/text.py
(mask_embedding_grad).
"""
import torch
import torch.nn.functional as F


def dreambooth_batch_loss(model_output: torch.Tensor, target: torch.Tensor, num_instance: int,
                          prior_weight: float = 1.0) -> torch.Tensor:
    """The DreamBooth loss of one concatenated batch (a 0-d tensor).

    Args:
        model_output, target: (B, ...) the U-Net's prediction and its target (eps); rows
            ``[:num_instance]`` are the subject's images, rows ``[num_instance:]`` class images.
        num_instance: how many rows are instance rows (1 to B; B means no class rows, then
            the result is the instance loss alone).
        prior_weight: lambda (the paper uses 1).

    Hint: each part is a mean squared error over ITS OWN rows (``F.mse_loss`` on a slice),
    so lambda weighs the two losses whatever the split; do not average the whole batch.
    """
    raise NotImplementedError


def mask_embedding_grad(grad: torch.Tensor, token_ids) -> torch.Tensor:
    """The gradient of an embedding table (vocab, dim) with every row zeroed except the rows
    in ``token_ids`` (an int, a list of ints or a LongTensor).

    Return a NEW tensor (a gradient hook must not edit the gradient it is given in place)
    of the same shape and dtype.

    Hint: build a (vocab, 1) column of zeros with ones at ``token_ids`` and multiply.
    """
    raise NotImplementedError
