"""Numbers published by the documents this project reproduces, each with where it comes from.

Nothing here is measured: these are the values printed in the papers (``shared/seeds/*.txt``), kept in one
place so that every report shows the published row beside the measured one and cites it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DENSE_VS_CONV",
    "GONDARA2016",
    "MODALITY_STUDY",
    "PublishedTable",
    "published_tables",
]


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


_GONDARA = (
    "Gondara, 'Medical image denoising using convolutional denoising autoencoders', ICDMW 2016 "
    "(shared/seeds/001_12bc7bab7e713298.txt)"
)
_MODALITY = (
    "Karan & Ashish, 'Medical Image Denoising Using Autoencoders', NIT Raipur final-year project report, 2025 "
    "(shared/seeds/002_9ff5e727bbfdaeee.txt)"
)
_VENKATARAMAN = (
    "Venkataraman, 'Image Denoising Using Convolutional Autoencoder' (shared/seeds/003_22a424a967102e1c.txt)"
)

#: Gondara 2016, Tables II-IV (mean SSIM over the test images; the paper gives no PSNR and no spread).
GONDARA2016: dict[str, PublishedTable] = {
    "table2": PublishedTable(
        key="gondara2016/table2",
        source=f"{_GONDARA}, Table II",
        metric="ssim",
        columns=("MMM", "DX"),
        rows={"Noisy": (0.45, 0.62), "CNN DAE": (0.81, 0.88), "Median filter": (0.73, 0.86)},
        note="Gaussian p=0.1, mu=0, sigma=1; 300 training images per dataset, test = the rest "
        "(22 MMM, 100 DX). SSIM window and data_range not stated.",
    ),
    "table3": PublishedTable(
        key="gondara2016/table3",
        source=f"{_GONDARA}, Table III",
        metric="ssim",
        columns=("Combined",),
        rows={
            "Noisy": (0.63,),
            "NL means": (0.62,),
            "Median filter": (0.80,),
            "CNN DAE (a)": (0.89,),
            "CNN DAE (b)": (0.90,),
        },
        note="MMM and DX combined (721 training / 100 test images in the paper). (a): the models trained on "
        "each small dataset; (b): one model trained on the combined set.",
    ),
    "table4": PublishedTable(
        key="gondara2016/table4",
        source=f"{_GONDARA}, Table IV",
        metric="ssim",
        columns=("p=0.5", "sd=5", "sd=10", "Poisson, lambda=5"),
        rows={
            "Noisy": (0.10, 0.03, 0.01, 0.33),
            "NL means": (0.25, 0.03, 0.01, 0.15),
            "Median filter": (0.28, 0.11, 0.03, 0.17),
            "CNN DAE": (0.70, 0.55, 0.39, 0.85),
        },
        note="p=0.5: Gaussian p=0.5, sigma=1; sd=5 / sd=10: Gaussian p=0.2, sigma=5 / 10; Poisson p=0.2, "
        "lambda=5. Training set not stated.",
    ),
}

#: The 2025 project report: one test set of 52 images (their own Kaggle data; modality mix not given).
MODALITY_STUDY: dict[str, PublishedTable] = {
    "metrics": PublishedTable(
        key="modality-study/metrics",
        source=f"{_MODALITY}, 'Metrics over 52 test images'",
        metric="psnr/ssim/mae/lpips",
        columns=("PSNR (dB)", "SSIM", "MAE", "LPIPS"),
        rows={"Conv AE 64/128 (published)": (29.55, 0.8742, 0.0226, 0.0850)},
        note="128x128, noise clip(x + 0.3 * N(0, 1.5), 0, 1), 50 epochs; per-modality models are claimed "
        "but only one set of numbers is printed, over 52 test images.",
    ),
}

#: Venkataraman: trainable parameters (Table II) and final validation loss (Table III, binary cross-entropy).
DENSE_VS_CONV: dict[str, PublishedTable] = {
    "params": PublishedTable(
        key="dense-vs-conv/params",
        source=f"{_VENKATARAMAN}, Table II",
        metric="parameters",
        columns=("Trainable parameters",),
        rows={"Fully connected autoencoder": (101200,), "Convolutional autoencoder": (28353,)},
    ),
    "val_loss": PublishedTable(
        key="dense-vs-conv/val_loss",
        source=f"{_VENKATARAMAN}, Table III",
        metric="val_loss",
        columns=("Validation loss",),
        rows={"Fully connected autoencoder": (0.2305,), "Convolutional autoencoder": (0.0871,)},
        note="MNIST (60,000 train / 10,000 test), Gaussian noise of unstated level, Adam, binary "
        "cross-entropy, 20 epochs.",
    ),
}


def published_tables() -> dict[str, PublishedTable]:
    """Every published table, keyed by its ``key``."""
    tables = [*GONDARA2016.values(), *MODALITY_STUDY.values(), *DENSE_VS_CONV.values()]
    return {t.key: t for t in tables}
