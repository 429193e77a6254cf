"""Exercise 12: the LoRA layer and its merge.    Lesson: notebooks/12_lora.ipynb

LoRA (Hu et al. 2021, eq. 3) keeps a pretrained weight W (d_out x d_in) frozen and learns a
low-rank update B A, with A (r x d_in) and B (d_out x r), r << min(d_in, d_out):

    h = W x + b + s (alpha / r) B A x

alpha / r is the paper's scaling, s the adapter's strength (diffusers' ``scale``; 1 as
trained). Conventions as in ``diffusionlab.nn.lora`` and ``torch.nn.Linear``: x is (..., d_in)
and a Linear computes x W^T + b, so the LoRA path is x A^T B^T.

Grade it:  python -m diffusionlab grade 12      (or, in a notebook: check("12"))
"""
import math

import torch


def init_lora(d_in: int, d_out: int, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fresh adapter (section 4.1): A (rank, d_in) random, B (d_out, rank) all zeros, so that
    B A = 0 and the adapted layer starts exactly equal to the frozen one.

    A is drawn as peft and nn.Linear draw a weight: kaiming-uniform with a = sqrt(5), which is
    uniform on [-1/sqrt(d_in), 1/sqrt(d_in)]. Both must be float32 and trainable
    (requires_grad=True).

    Hint: ``torch.empty(...)`` then ``torch.nn.init.kaiming_uniform_(A, a=math.sqrt(5))``.
    """
    raise NotImplementedError


def lora_forward(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor, A: torch.Tensor,
                 B: torch.Tensor, alpha: float, scale: float = 1.0) -> torch.Tensor:
    """h = W x + b + s (alpha / r) B A x  for x of shape (..., d_in); returns (..., d_out).

    r is A's number of rows. Never build the d_out x d_in product B A here: going through the
    r-wide bottleneck (x A^T, then B^T) is what makes LoRA cheap while training.

    Hint: ``x @ W.T + b`` is the frozen layer.
    """
    raise NotImplementedError


def merge_weight(W: torch.Tensor, A: torch.Tensor, B: torch.Tensor, alpha: float,
                 scale: float = 1.0) -> torch.Tensor:
    """The merged weight W' = W + s (alpha / r) B A (section 4.1: no extra inference cost).
    Returns a new tensor (W is not changed in place). ``lora_forward`` with W and
    ``x @ W'.T + b`` must then agree within rounding.

    Hint: ``B @ A`` is (d_out, d_in), the shape of W.
    """
    raise NotImplementedError
