"""Loss curves of a training run (training vs validation loss per epoch, like Gondara 2016 Fig. 7)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from meddenoise._utils import atomic_path

__all__ = ["plot_history"]


def plot_history(
    history: Sequence[dict[str, Any]], path: str | Path, *, title: str | None = None, loss_name: str = "loss"
) -> Path:
    """Plot ``train_loss`` and ``val_loss`` per epoch as a PNG; greedy pretraining epochs are shaded.

    Uses the Agg canvas directly (no pyplot), so it never touches the global matplotlib backend.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    fig = Figure(figsize=(6.4, 4.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    rows = [r for r in history if r.get("phase", "train") == "train"]
    pre = [r for r in history if r.get("phase", "train") != "train"]
    epochs = [r["epoch"] for r in rows]
    ax.plot(epochs, [r["train_loss"] for r in rows], label="training loss", color="tab:blue")
    val = [(r["epoch"], r["val_loss"]) for r in rows if r.get("val_loss") is not None]
    if val:
        ax.plot([e for e, _ in val], [v for _, v in val], label="validation loss", color="tab:orange")
    if pre:
        ax.axvspan(pre[0]["epoch"] - 0.5, pre[-1]["epoch"] + 0.5, color="0.9", label="greedy pretraining")
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss_name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
