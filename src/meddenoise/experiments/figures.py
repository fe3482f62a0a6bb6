"""Figures of the reproductions, drawn like the papers': image grids (one row per method) and loss curves.

Every function writes a PNG atomically and returns its path. Matplotlib runs on the non-interactive
``Agg`` backend, so figures are drawn the same on a headless CI machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from meddenoise._utils import atomic_path

__all__ = ["image_grid", "loss_curves", "save_figure"]


def save_figure(fig: plt.Figure, path: Path, *, dpi: int = 110) -> Path:
    """Save ``fig`` as PNG at ``path`` atomically and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def image_grid(
    rows: Mapping[str, np.ndarray] | Sequence[tuple[str, np.ndarray]],
    path: Path,
    *,
    title: str = "",
    column_labels: Sequence[str] | None = None,
    cell_inches: float = 1.3,
) -> Path:
    """Draw rows of images (each row a labelled ``(N, H, W)`` batch in [0, 1]) as one grid, like Fig. 6/8.

    Parameters
    ----------
    rows
        Row label → images ``(N, H, W)``; every row must hold the same number of images.
    path
        Where the PNG goes.
    title
        Figure title.
    column_labels
        Optional label over each column.
    """
    items = list(rows.items()) if isinstance(rows, Mapping) else list(rows)
    if not items:
        raise ValueError("image_grid needs at least one row")
    counts = {np.asarray(imgs).shape[0] for _, imgs in items}
    if len(counts) != 1:
        raise ValueError(f"every row must hold the same number of images, got {sorted(counts)}")
    n_cols = counts.pop()
    n_rows = len(items)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(cell_inches * n_cols + 1.6, cell_inches * n_rows + (0.4 if title else 0.0)),
        squeeze=False,
    )
    for r, (label, imgs) in enumerate(items):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.imshow(np.asarray(imgs)[c], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
            if r == 0 and column_labels is not None:
                ax.set_title(column_labels[c], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def loss_curves(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    path: Path,
    *,
    title: str = "",
    ylabel: str = "loss",
    log_y: bool = False,
) -> Path:
    """Training and validation loss per epoch, one panel per model (like Fig. 7 and Fig. 11).

    Parameters
    ----------
    curves
        Panel title → ``{"train": [...], "val": [...]}`` (either may be missing or empty).
    """
    if not curves:
        raise ValueError("loss_curves needs at least one set of curves")
    n = len(curves)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 2.8), squeeze=False)
    for ax, (name, hist) in zip(axes[0], curves.items(), strict=True):
        for key, style in (("train", "-"), ("val", "--")):
            values = list(hist.get(key, []) or [])
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=key)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if log_y:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
