"""Mode coverage on the shapes: how many of the data's classes a generator draws.

The shapes world has 3 shapes x 5 colours = 15 (shape, colour) classes, all equally likely.
A generator that mode-collapses draws a few of them; one that covers the data draws all 15
about equally often. The evaluator (``metrics.evaluator``) reads each sample's class, and

    covered   = number of classes that receive at least ``min_share`` of the samples
    imbalance = total variation distance between the class histogram and uniform,
                (1/2) sum_k |p_k - 1/K|   (0: perfectly even, 1 - 1/K: one class only)

It is the image analogue of ``metrics.toy2d.modes_covered``. A fresh real set scores all
classes and a small imbalance (read generated sets against it: ``real_coverage``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .._checks import check_number, check_tensor
from ..data.shapes import ATTRIBUTES


@dataclass
class Coverage:
    covered: int            # classes with at least min_share of the samples
    num_classes: int
    imbalance: float        # total variation distance to the uniform class histogram
    shares: list            # share of the samples in each class, in (shape, colour) order

    def __str__(self) -> str:
        return f"classes {self.covered}/{self.num_classes}, imbalance {self.imbalance:.2f}"


def class_coverage(evaluator, images: torch.Tensor, attributes=("shape", "color"),
                   min_share: float = 0.01) -> Coverage:
    """Coverage of the classes formed by ``attributes`` (default: shape x colour, 15)."""
    check_tensor("images", images, ndim=4)
    min_share = check_number("min_share", min_share, minimum=0.0, maximum=1.0)
    for a in attributes:
        if a not in ATTRIBUTES:
            raise ValueError(f"attributes must name keys of {tuple(ATTRIBUTES)}, got {a!r}")
    labels = evaluator.predict_labels(images)
    index = torch.zeros(images.shape[0], dtype=torch.long)
    total = 1
    for a in attributes:                                  # mixed-radix class index
        index = index * len(ATTRIBUTES[a]) + labels[a]
        total *= len(ATTRIBUTES[a])
    shares = torch.bincount(index, minlength=total).double() / images.shape[0]
    imbalance = 0.5 * float((shares - 1.0 / total).abs().sum())
    return Coverage(int((shares >= min_share).sum()), total, imbalance,
                    [round(float(s), 4) for s in shares])
