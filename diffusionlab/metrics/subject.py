"""Subject fidelity: is this image the personalized subject (``data.subjects``)?

The subject is a green disc with a wedge cut out of its right side. The detector measures
that geometry on the drawn object:

    m           = object_mask(image)                     pixels brighter than the background
    box         = m's bounding box; the notch removes the disc's rightmost point but not
                  its top, bottom and left ones, so  r = box height / 2,
                  c = (box left + r, box middle)          the disc's centre and radius
    notch_fill  = fraction of the wedge (|angle| < 30 deg, 0.35 r .. 0.9 r) that is drawn
    body_fill   = fraction of the rest of the disc (0.9 r) that is drawn
    subject     = notch_fill <= 0.35  and  body_fill >= 0.8  and  colour == green
                  and area >= MIN_AREA

A whole disc fails the notch test, a square or a triangle fails one of the two fills, a
notched disc of another colour fails the colour test. Validated (``tests/test_subjects.py``
and lesson 13) the way the evaluator was: it fires on real subject images at every
position and size (including those never shown in training) and after a VAE round trip
(what the pipeline's decoder can draw), and stays silent on plain shapes of every shape
and colour and on notched discs of the other colours. ``notch_depth`` (1 - notch_fill)
is the graded version for plots.
"""
from __future__ import annotations

import math

import torch

from .._checks import check_tensor
from ..data.subjects import SUBJECT_COLOR
from .images import dominant_color, object_mask

MIN_AREA = 12                    # pixels; a small circle at 32x32 has about 50
NOTCH_MAX_FILL = 0.35
BODY_MIN_FILL = 0.8


def _geometry(images: torch.Tensor):
    """Object mask (B, H, W) bool, its disc centre (B, 2) and radius (B,) from the box."""
    m = object_mask(images)[:, 0] > 0
    H, W = m.shape[1:]
    rows, cols = m.any(2), m.any(1)                                  # (B, H), (B, W)
    idx_r = torch.arange(H).expand_as(rows)
    idx_c = torch.arange(W).expand_as(cols)
    big = 10 ** 6
    top = torch.where(rows, idx_r, big).amin(1).float()
    bottom = torch.where(rows, idx_r, -1).amax(1).float() + 1
    left = torch.where(cols, idx_c, big).amin(1).float()
    r = ((bottom - top) / 2).clamp_min(0.5)
    centre = torch.stack([left + r, (top + bottom) / 2], dim=1)      # (x, y) in pixels
    return m, centre, r


def fills(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(notch_fill, body_fill), each (B,) in [0, 1] (module docstring)."""
    check_tensor("images", images, ndim=4)
    m, centre, r = _geometry(images)
    H, W = m.shape[1:]
    x = torch.arange(W, dtype=torch.float32).view(1, 1, W) + 0.5 - centre[:, 0].view(-1, 1, 1)
    y = torch.arange(H, dtype=torch.float32).view(1, H, 1) + 0.5 - centre[:, 1].view(-1, 1, 1)
    rho = (x ** 2 + y ** 2).sqrt() / r.view(-1, 1, 1)
    angle = torch.atan2(y, x).abs()
    wedge = (angle < math.radians(30)) & (rho > 0.35) & (rho < 0.9)
    body = (angle > math.radians(75)) & (rho < 0.9)
    mf = m.float()
    notch = (mf * wedge).flatten(1).sum(1) / wedge.flatten(1).sum(1).clamp_min(1)
    rest = (mf * body).flatten(1).sum(1) / body.flatten(1).sum(1).clamp_min(1)
    return notch, rest


def notch_depth(images: torch.Tensor) -> torch.Tensor:
    """(B,) 1 - notch_fill: 1 for a clean notch, 0 for a whole disc."""
    return 1 - fills(images)[0]


def is_subject(images: torch.Tensor) -> torch.Tensor:
    """(B,) bool: the image shows the subject (module docstring)."""
    check_tensor("images", images, ndim=4)
    if images.shape[0] == 0:
        raise ValueError("images must hold at least one image, got an empty batch")
    notch, body = fills(images)
    area = object_mask(images).flatten(1).sum(1)
    colour = torch.tensor([c == SUBJECT_COLOR for c in dominant_color(images)])
    return (notch <= NOTCH_MAX_FILL) & (body >= BODY_MIN_FILL) & colour & (area >= MIN_AREA)


def subject_fidelity(images: torch.Tensor) -> float:
    """Fraction of ``images`` that show the subject (``is_subject``)."""
    return float(is_subject(images).float().mean())
