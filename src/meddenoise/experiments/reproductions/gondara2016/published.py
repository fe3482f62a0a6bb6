"""Gondara 2016, Tables II-IV as published (mean SSIM over the test images; no PSNR, no spread)."""

from __future__ import annotations

from meddenoise.experiments.published import PublishedTable
from meddenoise.experiments.reproductions.gondara2016.labels import (
    PUB_DAE,
    PUB_DAE_A,
    PUB_DAE_B,
    PUB_MEDIAN,
    PUB_NLM,
    PUB_NOISY,
)

__all__ = ["CITATION", "GONDARA2016"]

CITATION = (
    "Gondara, 'Medical image denoising using convolutional denoising autoencoders', ICDMW 2016 "
    "(shared/seeds/001_12bc7bab7e713298.txt)"
)

GONDARA2016: dict[str, PublishedTable] = {
    "table2": PublishedTable(
        key="gondara2016/table2",
        source=f"{CITATION}, Table II",
        metric="ssim",
        columns=("MMM", "DX"),
        rows={PUB_NOISY: (0.45, 0.62), PUB_DAE: (0.81, 0.88), PUB_MEDIAN: (0.73, 0.86)},
        note="Gaussian p=0.1, mu=0, sigma=1; 300 training images per dataset, test = the rest "
        "(22 MMM, 100 DX). SSIM window and data_range not stated.",
    ),
    "table3": PublishedTable(
        key="gondara2016/table3",
        source=f"{CITATION}, Table III",
        metric="ssim",
        columns=("Combined",),
        rows={
            PUB_NOISY: (0.63,),
            PUB_NLM: (0.62,),
            PUB_MEDIAN: (0.80,),
            PUB_DAE_A: (0.89,),
            PUB_DAE_B: (0.90,),
        },
        note="MMM and DX combined (721 training / 100 test images in the paper). (a): the models trained on "
        "each small dataset; (b): one model trained on the combined set.",
    ),
    "table4": PublishedTable(
        key="gondara2016/table4",
        source=f"{CITATION}, Table IV",
        metric="ssim",
        columns=("p=0.5", "sd=5", "sd=10", "Poisson, lambda=5"),
        rows={
            PUB_NOISY: (0.10, 0.03, 0.01, 0.33),
            PUB_NLM: (0.25, 0.03, 0.01, 0.15),
            PUB_MEDIAN: (0.28, 0.11, 0.03, 0.17),
            PUB_DAE: (0.70, 0.55, 0.39, 0.85),
        },
        note="p=0.5: Gaussian p=0.5, sigma=1; sd=5 / sd=10: Gaussian p=0.2, sigma=5 / 10; Poisson p=0.2, "
        "lambda=5. Training set not stated.",
    ),
}
