"""The record of a published table: values printed in a paper, each with where it comes from.

Nothing here is measured. Each reproduction keeps its own paper's numbers in its module (e.g.
:data:`meddenoise.experiments.reproductions.gondara2016.published.GONDARA2016`);
:func:`meddenoise.experiments.registry.published_tables` collects them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PublishedTable"]


@dataclass(frozen=True)
class PublishedTable:
    """One published table: rows (method) x columns (setting or dataset) of one metric.

    Attributes
    ----------
    key
        Short identifier used in ``results.json`` (e.g. ``"gondara2016/table2"``).
    source
        Citation: document, table or figure, and the seed file it was read from.
    metric
        Name of the metric the values are in (``"ssim"``, ``"psnr"``, ``"val_loss"``, ...).
    columns
        Column labels, in order.
    rows
        Row label → one value per column (``None`` where the paper has no value).
    note
        How the paper computed it, when it says (or what it leaves unsaid).
    """

    key: str
    source: str
    metric: str
    columns: tuple[str, ...]
    rows: dict[str, tuple[float | None, ...]] = field(default_factory=dict)
    note: str = ""

    def value(self, row: str, column: str) -> float | None:
        """The published value of ``row`` in ``column`` (``None`` when not published)."""
        if row not in self.rows or column not in self.columns:
            return None
        return self.rows[row][self.columns.index(column)]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "key": self.key,
            "source": self.source,
            "metric": self.metric,
            "columns": list(self.columns),
            "rows": {name: list(vals) for name, vals in self.rows.items()},
            "note": self.note,
        }
