"""Small plotting helpers shared by the lessons (matplotlib only).

Each function is independent: it takes tensors, draws, and returns the figure
(or the axes it drew on) so a notebook can add to it and end with ``plt.show()``.
Images follow the course convention: float tensors in [-1, 1], CHW (one image)
or NCHW (a batch); 2-D point clouds are (n, 2) tensors.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from ._checks import check_tensor


def to_image(x: torch.Tensor) -> np.ndarray:
    """One image in [-1, 1], CHW with C in {1, 3} (or HW), to an HWC / HW array in [0, 1].

    Values outside [-1, 1] (a noisy image) are clipped, as any image viewer would.
    """
    check_tensor("x", x)
    if x.ndim == 3:
        if x.shape[0] not in (1, 3):
            raise ValueError(f"x must be CHW with 1 or 3 channels, got shape {tuple(x.shape)}")
        x = x[0] if x.shape[0] == 1 else x.permute(1, 2, 0)
    elif x.ndim != 2:
        raise ValueError(f"x must be an image of shape (C, H, W) or (H, W), got {tuple(x.shape)}")
    return ((x.detach().cpu().float().clamp(-1, 1) + 1) / 2).numpy()


def _grid(n: int, ncols: int | None, size: float, axes, aspect: float = 1.0):
    """A figure of ``n`` panels, ``size`` inches wide and ``size * aspect`` high each."""
    if axes is not None:
        axes = np.atleast_1d(np.asarray(axes, dtype=object)).ravel()
        if len(axes) < n:
            raise ValueError(f"axes must hold at least {n} axes, got {len(axes)}")
        return axes[0].figure, axes
    ncols = n if ncols is None else max(1, min(int(ncols), n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size * aspect + 0.3) * nrows),
                             squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    return fig, axes.ravel()


def _titles(titles, n: int):
    if titles is None:
        return [None] * n
    titles = list(titles)
    if len(titles) != n:
        raise ValueError(f"titles must have one entry per panel ({n}), got {len(titles)}")
    return titles


def show_images(images, titles=None, ncols: int | None = None, size: float = 1.6,
                axes=None, suptitle: str | None = None):
    """Draw a batch (N, C, H, W) or a list of CHW images in [-1, 1] on a grid; returns the figure.
    Panels are ``size`` inches wide and as high as the tallest image's aspect asks."""
    if isinstance(images, torch.Tensor):
        check_tensor("images", images, ndim=4)
        images = list(images)
    if not isinstance(images, (list, tuple)) or len(images) == 0:
        raise ValueError("images must be a non-empty (N, C, H, W) tensor or list of CHW tensors")
    titles = _titles(titles, len(images))
    aspect = max(img.shape[-2] / img.shape[-1] for img in images)
    fig, axes = _grid(len(images), ncols, size, axes, aspect)
    for ax, img, title in zip(axes, images, titles):
        arr = to_image(img)
        ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if title is not None:
            ax.set_title(title, fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


def show_clouds(clouds, titles=None, lim: float = 3.0, ncols: int | None = None,
                size: float = 2.2, axes=None, color: str = "C0", point_size: float = 2.0,
                suptitle: str | None = None):
    """Scatter a list of (n, 2) point clouds side by side on equal square axes; returns the figure."""
    if isinstance(clouds, torch.Tensor):
        clouds = [clouds]
    if not isinstance(clouds, (list, tuple)) or len(clouds) == 0:
        raise ValueError("clouds must be an (n, 2) tensor or a non-empty list of them")
    for i, c in enumerate(clouds):
        check_tensor(f"clouds[{i}]", c, ndim=2)
        if c.shape[1] != 2:
            raise ValueError(f"clouds[{i}] must have shape (n, 2), got {tuple(c.shape)}")
    titles = _titles(titles, len(clouds))
    fig, axes = _grid(len(clouds), ncols, size, axes)
    for ax, c, title in zip(axes, clouds, titles):
        c = c.detach().cpu().float().numpy()
        ax.scatter(c[:, 0], c[:, 1], s=point_size, color=color, alpha=0.5, linewidths=0)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        if title is not None:
            ax.set_title(title, fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


def plot_curves(curves: dict, x=None, ax=None, xlabel: str = "timestep t", ylabel: str = "",
                logy: bool = False, title: str | None = None, marker_x: float | None = None):
    """Plot named 1-D curves {label: values} against ``x`` (default 0..len-1); returns the axes.

    ``marker_x`` draws a vertical dotted line (e.g. the timestep a widget selected).
    """
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict {label: 1-D values}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for label, y in curves.items():
        y = torch.as_tensor(y).detach().cpu().double()
        if y.ndim != 1:
            raise ValueError(f"curve {label!r} must be 1-D, got shape {tuple(y.shape)}")
        xs = np.arange(len(y)) if x is None else np.asarray(torch.as_tensor(x).cpu())
        if len(xs) != len(y):
            raise ValueError(f"curve {label!r} has {len(y)} values but x has {len(xs)}")
        ax.plot(xs, y.numpy(), label=str(label))
    if logy:
        ax.set_yscale("log")
    if marker_x is not None:
        ax.axvline(marker_x, color="k", linestyle=":", linewidth=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def show_source(obj, lines: tuple[int, int] | None = None, *, start: str | None = None,
                stop: str | None = None):
    """Show a library function's, method's or class's source in a notebook, syntax highlighted,
    with its file and line: rendered from the library itself, so it never drifts from the code.

    ``lines=(a, b)`` shows only lines a..b of it (1-based, inclusive). ``start``/``stop`` pick
    the lines by text instead, so the excerpt follows the library when it changes: from the first
    line containing ``start`` to the next line containing ``stop`` (both included; either may be
    left out to mean the first or the last line)."""
    import inspect
    from pathlib import Path

    from IPython.display import Markdown, display

    if lines is not None and (start is not None or stop is not None):
        raise ValueError("show_source: give either lines=(a, b) or start=/stop= text, not both")
    obj = inspect.unwrap(obj)                   # decorated functions: the library's source
    source, first = inspect.getsourcelines(obj)
    if start is not None or stop is not None:
        a = 0 if start is None else next((i for i, ln in enumerate(source) if start in ln), None)
        if a is None:
            raise ValueError(f"show_source: start={start!r} is in no line of {obj.__qualname__}")
        b = len(source) - 1 if stop is None else next(
            (i for i in range(a, len(source)) if stop in source[i]), None)
        if b is None:
            raise ValueError(f"show_source: stop={stop!r} is in no line of {obj.__qualname__} "
                             f"after start={start!r}")
        lines = (a + 1, b + 1)
    if lines is not None:
        a, b = lines
        if not 1 <= a <= b <= len(source):
            raise ValueError(f"show_source: lines must satisfy 1 <= a <= b <= {len(source)} "
                             f"for {obj.__qualname__}, got {lines}")
        source, first = source[a - 1:b], first + a - 1
    path = Path(inspect.getsourcefile(obj)).resolve()
    package = Path(__file__).resolve().parent.parent
    shown = path.relative_to(package) if path.is_relative_to(package) else path.name
    header = f"`{shown}`, line {first}: `{getattr(obj, '__qualname__', obj)}`"
    display(Markdown(header + "\n\n```python\n" + "".join(source).rstrip() + "\n```"))
