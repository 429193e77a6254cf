"""Figures for the sampling lessons (04 DDPM reverse process, 05 DDIM) on 2-D toys.

Each function draws onto a new matplotlib figure and returns it; the notebook
cell ends with ``plt.show()``. Points are (n, 2) tensors or arrays.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ._checks import check_int


def _np(points) -> np.ndarray:
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {points.shape}")
    return points


def _square(ax, lim: float) -> None:
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def scatter_clouds(clouds, titles, lim: float = 2.5, size: float = 2.0, colors=None,
                   reference=None, ncols: int | None = None, panel: float = 2.3,
                   suptitle: str | None = None):
    """One square scatter panel per point cloud, side by side.

    ``reference`` (optional, (n, 2)) is drawn in light grey under every panel, e.g. the data.
    ``colors`` (optional) is one array of per-point values per cloud (or None), drawn with a
    colour map so a learner can follow the same points from panel to panel.
    """
    clouds = [_np(c) for c in clouds]
    if len(titles) != len(clouds):
        raise ValueError(f"need one title per cloud, got {len(titles)} titles for {len(clouds)} clouds")
    n = len(clouds)
    ncols = n if ncols is None else check_int("ncols", ncols, minimum=1)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel * ncols, panel * nrows + 0.3),
                             squeeze=False)
    ref = None if reference is None else _np(reference)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        if ref is not None:
            ax.scatter(ref[:, 0], ref[:, 1], s=size, c="0.85", linewidths=0)
        c = None if colors is None else colors[i]
        if c is None:
            ax.scatter(clouds[i][:, 0], clouds[i][:, 1], s=size, c="C0", linewidths=0)
        else:
            ax.scatter(clouds[i][:, 0], clouds[i][:, 1], s=size, c=np.asarray(c),
                       cmap="hsv", linewidths=0)
        ax.set_title(titles[i], fontsize=9)
        _square(ax, lim)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def plot_trajectory(trajectory: dict, at=None, num_panels: int = 6, lim: float = 3.0,
                    size: float = 2.0, colors=None):
    """Two rows of clouds along a sampling run (``sample(..., return_trajectory=True)``):
    top, the state after ``i`` of the n steps (i = 0 is x_T, i = n the sample); bottom, the
    network's guess of x_0 made at that point. ``at`` lists the step indices i to show
    (default: ``num_panels`` evenly spaced). ``colors`` (per-point values) lets one follow
    the same points from panel to panel."""
    ts = [int(t) for t in trajectory["timesteps"]]
    xs, x0s = trajectory["x"], trajectory["x0_pred"]
    n = len(ts)
    if at is None:
        num_panels = check_int("num_panels", num_panels, minimum=2)
        idx = sorted(set(np.linspace(0, n, num_panels).round().astype(int).tolist()))
    else:
        idx = [int(i) for i in at]
        if not idx or min(idx) < 0 or max(idx) > n:
            raise ValueError(f"at must list step indices in [0, {n}], got {list(at)}")
    fig, axes = plt.subplots(2, len(idx), figsize=(2.2 * len(idx), 5.3), squeeze=False)
    c = None if colors is None else np.asarray(colors)
    kw = dict(s=size, linewidths=0, cmap="hsv" if c is not None else None,
              c=c if c is not None else "C0")
    for j, i in enumerate(idx):
        state = _np(xs[i])
        label = f"x_T (t = {ts[0]})" if i == 0 else (
            "x_0 (done)" if i == n else f"x_t, t = {ts[i]}")
        axes[0, j].scatter(state[:, 0], state[:, 1], **kw)
        axes[0, j].set_title(f"step {i}/{n}\n{label}", fontsize=9)
        _square(axes[0, j], lim)
        k = min(i, n - 1)                       # x0_pred is made at the step that leaves ts[k]
        guess = _np(x0s[k])
        axes[1, j].scatter(guess[:, 0], guess[:, 1], **kw)
        axes[1, j].set_title(f"predicted x_0 at t = {ts[k]}", fontsize=9)
        _square(axes[1, j], lim)
    axes[0, 0].set_ylabel("state x_t")
    axes[1, 0].set_ylabel("network's x_0 guess")
    fig.tight_layout()
    return fig


def plot_quality_and_cost(steps, quality, seconds, quality_label: str = "SW ratio to floor",
                          labels=None):
    """Left: quality (lower is better) against the number of steps; right: wall time.

    ``quality`` and ``seconds`` are one sequence per curve (or a single sequence);
    ``labels`` names the curves. Both axes logarithmic in steps.
    """
    steps = list(steps)
    if not quality or not isinstance(quality[0], (list, tuple, np.ndarray)):
        quality, seconds = [quality], [seconds]
    labels = labels or [None] * len(quality)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.3))
    for q, s, lab in zip(quality, seconds, labels):
        a.plot(steps, q, "o-", label=lab)
        if s is not None:
            b.plot(steps, s, "o-", label=lab)
    a.axhline(1.0, color="0.6", ls="--", lw=1)
    a.set_xscale("log")
    a.set_xlabel("number of sampling steps (= network evaluations)")
    a.set_ylabel(quality_label)
    a.set_title("quality (1 = as good as fresh data)", fontsize=10)
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xlabel("number of sampling steps")
    b.set_ylabel("wall time (s)")
    b.set_title("cost", fontsize=10)
    if any(lab is not None for lab in labels):
        a.legend(fontsize=8)
        b.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_noise_to_data(grid_T, grid_mode, path_T, path_images, image_titles, reference=None,
                       lim: float = 2.5):
    """How a sampler maps noise to data, in 2-D.

    Left: a grid of starting points x_T coloured by the mode (an integer per point) their
    sample lands in, with an interpolation path drawn on top. Then one panel per entry of
    ``path_images``: where the points of the path end up, coloured by their position along
    the path, over ``reference`` (the data) in grey.
    """
    grid_T, path_T = _np(grid_T), _np(path_T)
    mode = np.asarray(grid_mode)
    k = len(path_images)
    fig, axes = plt.subplots(1, k + 1, figsize=(3.4 * (k + 1), 3.7), squeeze=False)
    ax = axes[0, 0]
    ax.scatter(grid_T[:, 0], grid_T[:, 1], c=mode, cmap="tab10", vmin=0, vmax=9, s=6,
               marker="s", linewidths=0)
    pos = np.linspace(0, 1, len(path_T))
    ax.scatter(path_T[:, 0], path_T[:, 1], c=pos, cmap="viridis", s=6, linewidths=0)
    ax.set_title("x_T coloured by the mode it reaches\n(eta = 0), with the path", fontsize=9)
    _square(ax, float(np.abs(grid_T).max()))
    ref = None if reference is None else _np(reference)
    for j, (img, title) in enumerate(zip(path_images, image_titles)):
        ax = axes[0, j + 1]
        if ref is not None:
            ax.scatter(ref[:, 0], ref[:, 1], s=2, c="0.85", linewidths=0)
        img = _np(img)
        ax.plot(img[:, 0], img[:, 1], color="0.5", lw=0.5)
        ax.scatter(img[:, 0], img[:, 1], c=pos, cmap="viridis", s=8, linewidths=0)
        ax.set_title(title, fontsize=9)
        _square(ax, lim)
    fig.tight_layout()
    return fig
