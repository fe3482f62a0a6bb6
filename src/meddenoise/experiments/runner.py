"""What every reproduction shares: result tables, the run record, timings, environment capture, saving.

A reproduction builds an :class:`ExperimentRecord`, adds :class:`ResultTable` objects (published rows beside
measured rows), figures, notes and discrepancies, times its steps with :meth:`ExperimentRecord.step`, and
finally calls :meth:`ExperimentRecord.save`, which writes ``results.json`` and one CSV per table. The HTML
report (:mod:`meddenoise.report.experiment_report`) is built from the same record.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import math
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from meddenoise._utils import atomic_path
from meddenoise.experiments.config import ReproductionConfig
from meddenoise.experiments.published import PublishedTable
from meddenoise.provenance import environment

__all__ = [
    "RESULTS_SCHEMA",
    "Cell",
    "ExperimentRecord",
    "FigureRecord",
    "ResultTable",
    "TableRow",
    "cell_from_values",
    "environment_info",
]

#: Version tag written into every ``results.json``; bump it when the layout changes.
RESULTS_SCHEMA = "meddenoise.reproduce/1"


@dataclass(frozen=True)
class Cell:
    """One table entry: a mean with, when measured over images, its standard deviation and count."""

    mean: float
    std: float | None = None
    n: int | None = None

    def format(self, digits: int = 3) -> str:
        """``0.812 ± 0.041`` (or just the mean when there is no spread)."""
        if not math.isfinite(self.mean):
            return "n/a"
        text = f"{self.mean:.{digits}f}"
        if self.std is not None:
            text += f" ± {self.std:.{digits}f}"
        return text

    def to_dict(self) -> dict[str, float | int | None]:
        return {"mean": _finite_or_none(self.mean), "std": _finite_or_none(self.std), "n": self.n}


def cell_from_values(values: Sequence[float] | np.ndarray) -> Cell:
    """Mean ± standard deviation (population, ``ddof=0``) of per-image values."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("cannot summarise an empty list of values")
    return Cell(mean=float(arr.mean()), std=float(arr.std()), n=int(arr.size))


@dataclass
class TableRow:
    """One row of a result table.

    ``source`` says where the numbers come from: ``"published"``, or a measured kind such as
    ``"measured"``, ``"paper-faithful"``, ``"ours"``, ``"untuned"``, ``"tuned"``.
    """

    label: str
    source: str
    cells: dict[str, Cell | None]

    @property
    def published(self) -> bool:
        return self.source == "published"


@dataclass
class ResultTable:
    """A table of one metric: rows (methods) x columns (datasets or noise settings)."""

    key: str
    title: str
    metric: str
    columns: list[str]
    caption: str = ""
    digits: int = 3
    rows: list[TableRow] = field(default_factory=list)
    published_source: str = ""

    def add_row(self, label: str, source: str, cells: Mapping[str, Cell | float | None]) -> TableRow:
        """Append a row; plain floats become :class:`Cell` without spread. Unknown columns are an error."""
        unknown = set(cells) - set(self.columns)
        if unknown:
            raise ValueError(
                f"table {self.key}: unknown columns {sorted(unknown)}; columns are {self.columns}"
            )
        row = TableRow(
            label=label,
            source=source,
            cells={
                col: (Cell(float(val)) if isinstance(val, (int, float)) else val)
                for col, val in ((c, cells.get(c)) for c in self.columns)
            },
        )
        self.rows.append(row)
        return row

    def add_published(
        self,
        published: PublishedTable,
        *,
        rows: Mapping[str, str] | None = None,
        columns: Mapping[str, str] | None = None,
    ) -> None:
        """Add the published rows of ``published`` (labels mapped by ``rows``, columns by ``columns``).

        ``rows`` maps published row name → label in this table (default: same name); ``columns`` maps this
        table's column → published column (default: same name).
        """
        row_map = rows if rows is not None else {name: name for name in published.rows}
        col_map = columns if columns is not None else {c: c for c in self.columns if c in published.columns}
        for pub_name, label in row_map.items():
            cells: dict[str, Cell | float | None] = {}
            for col in self.columns:
                value = published.value(pub_name, col_map[col]) if col in col_map else None
                cells[col] = None if value is None else float(value)
            self.add_row(label, "published", cells)
        self.published_source = published.source

    def row(self, label: str, source: str | None = None) -> TableRow:
        """The first row called ``label`` (and of ``source``, when given)."""
        for r in self.rows:
            if r.label == label and (source is None or r.source == source):
                return r
        raise KeyError(f"table {self.key} has no row {label!r} (source {source!r})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "metric": self.metric,
            "caption": self.caption,
            "columns": list(self.columns),
            "published_source": self.published_source,
            "rows": [
                {
                    "label": r.label,
                    "source": r.source,
                    "cells": {c: (None if v is None else v.to_dict()) for c, v in r.cells.items()},
                }
                for r in self.rows
            ],
        }

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown (mean ± std)."""
        lines = [
            "| " + " | ".join(["method", "source", *self.columns]) + " |",
            "|" + "---|" * (len(self.columns) + 2),
        ]
        for r in self.rows:
            vals = [_format_cell(r.cells[c], self.digits) for c in self.columns]
            lines.append("| " + " | ".join([r.label, r.source, *vals]) + " |")
        return "\n".join(lines)

    def write_csv(self, path: Path) -> Path:
        """One line per row: label, source, then ``<column>_mean``, ``<column>_std``, ``<column>_n``."""
        with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
            writer = csv.writer(fh)
            header = ["label", "source"]
            for c in self.columns:
                header += [f"{c}_mean", f"{c}_std", f"{c}_n"]
            writer.writerow(header)
            for r in self.rows:
                line: list[object] = [r.label, r.source]
                for c in self.columns:
                    cell = r.cells[c]
                    line += ["", "", ""] if cell is None else [cell.mean, _blank(cell.std), _blank(cell.n)]
                writer.writerow(line)
        return path


@dataclass
class FigureRecord:
    """A PNG figure written into the report folder."""

    file: str
    title: str
    caption: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "title": self.title, "caption": self.caption}


@dataclass
class ExperimentRecord:
    """Everything a reproduction run produced; saved as ``results.json`` and rendered as ``index.html``."""

    experiment: str
    title: str
    out_dir: Path
    seed: int
    quick: bool
    command: str = ""
    protocol: dict[str, Any] = field(default_factory=dict)
    tables: list[ResultTable] = field(default_factory=list)
    figures: list[FigureRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    discrepancies: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = print
    started: float = field(default_factory=time.perf_counter)
    started_utc: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat())

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if not self.command:
            self.command = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])

    @classmethod
    def start(
        cls,
        experiment: str,
        title: str,
        config: ReproductionConfig,
        *,
        log: Callable[[str], None] = print,
    ) -> ExperimentRecord:
        """Begin a run of ``config`` into ``config.out``: set torch's threads and record the config
        (as JSON has it) in the protocol."""
        import torch

        if config.out is None:
            raise ValueError(f"{experiment}: the config has no report folder (out)")
        torch.set_num_threads(config.threads)
        record = cls(
            experiment=experiment,
            title=title,
            out_dir=config.out,
            seed=config.seed,
            quick=config.quick,
            log=log,
        )
        record.protocol["config"] = config.model_dump(mode="json", exclude={"data_dir", "out"})
        return record

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a step (accumulated under ``name``) and print its start and end with the elapsed total."""
        self.log(f"[{self.elapsed():7.1f}s] {name} ...")
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            self.timings[name] = self.timings.get(name, 0.0) + dt
            self.log(f"[{self.elapsed():7.1f}s] {name} done in {dt:.1f}s")

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def add_table(self, table: ResultTable) -> ResultTable:
        self.tables.append(table)
        return table

    def table(self, key: str) -> ResultTable:
        for t in self.tables:
            if t.key == key:
                return t
        raise KeyError(f"no table {key!r}")

    def add_figure(self, file: str | Path, title: str, caption: str = "") -> FigureRecord:
        rec = FigureRecord(file=Path(file).name, title=title, caption=caption)
        self.figures.append(rec)
        return rec

    def figure_path(self, name: str) -> Path:
        return self.out_dir / name

    def compare_with_published(
        self,
        table: ResultTable,
        *,
        pairs: Mapping[str, tuple[str, str]],
        tolerance: float,
        reasons: Mapping[str, str] | Callable[[str, str], str],
    ) -> list[dict[str, Any]]:
        """Record every cell where a measured row differs from its published row by more than ``tolerance``.

        ``pairs`` maps a published row label → (measured row label, measured source). ``reasons`` gives the
        likely reason per published row label (or a function of (row, column)).
        """
        found = []
        for pub_label, (meas_label, meas_source) in pairs.items():
            try:
                pub_row = table.row(pub_label, "published")
                meas_row = table.row(meas_label, meas_source)
            except KeyError:
                continue
            for col in table.columns:
                pub, meas = pub_row.cells[col], meas_row.cells[col]
                if pub is None or meas is None or not math.isfinite(meas.mean):
                    continue
                diff = meas.mean - pub.mean
                if abs(diff) > tolerance:
                    reason = reasons(pub_label, col) if callable(reasons) else reasons.get(pub_label, "")
                    found.append(
                        {
                            "table": table.key,
                            "row": meas_label,
                            "source": meas_source,
                            "column": col,
                            "metric": table.metric,
                            "published": pub.mean,
                            "measured": meas.mean,
                            "difference": diff,
                            "likely_reason": reason,
                        }
                    )
        self.discrepancies.extend(found)
        return found

    def to_dict(self) -> dict[str, Any]:
        total = self.elapsed()
        return {
            "schema": RESULTS_SCHEMA,
            "experiment": self.experiment,
            "title": self.title,
            "quick": self.quick,
            "seed": self.seed,
            "command": self.command,
            "started_utc": self.started_utc,
            "environment": environment_info(),
            "protocol": self.protocol,
            "tables": [t.to_dict() for t in self.tables],
            "figures": [f.to_dict() for f in self.figures],
            "discrepancies": self.discrepancies,
            "notes": self.notes,
            "timings": {**{k: round(v, 3) for k, v in self.timings.items()}, "total": round(total, 3)},
            "extra": self.extra,
        }

    def save(self) -> dict[str, Any]:
        """Write ``results.json`` and ``<table>.csv`` files into :attr:`out_dir`; return the JSON dict."""
        data = self.to_dict()
        for table in self.tables:
            table.write_csv(self.out_dir / f"{_file_stem(table.key)}.csv")
        with atomic_path(self.out_dir / "results.json") as tmp:
            tmp.write_text(json.dumps(data, indent=2, default=_json_default) + "\n")
        return data


def environment_info() -> dict[str, Any]:
    """Versions, CPU, threads and the git commit (see :func:`meddenoise.provenance.environment`)."""
    return dict(environment())


def _format_cell(cell: Cell | None, digits: int) -> str:
    return "" if cell is None else cell.format(digits)


def _file_stem(key: str) -> str:
    return key.split("/", 1)[-1].replace("/", "_").replace(" ", "_")


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _blank(x: object) -> object:
    return "" if x is None else x


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
