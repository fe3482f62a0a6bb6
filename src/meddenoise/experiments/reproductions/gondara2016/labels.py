"""Row labels of the gondara2016 tables: the methods we measure, the paper's rows, and where numbers come from."""

from __future__ import annotations

# --- measured methods (row labels of our tables, keys of the per-method scores) ---------------------
NOISY = "Noisy"
NLM_UNTUNED = "NL means (untuned)"
NLM_TUNED = "NL means (tuned)"
MEDIAN_UNTUNED = "Median (untuned)"
MEDIAN_TUNED = "Median (tuned)"
BM3D = "BM3D"
#: Table II (per-dataset models, "a") and Table IV (per-setting models) row.
DAE = "CNN DAE (paper-faithful)"
DAE_A = "CNN DAE (a, paper-faithful)"
DAE_B = "CNN DAE (b, paper-faithful)"
OURS = "Ours (per setting)"

# --- the paper's row labels ---------------------------------------------------------------------------
PUB_NOISY = "Noisy"
PUB_NLM = "NL means"
PUB_MEDIAN = "Median filter"
PUB_DAE = "CNN DAE"
PUB_DAE_A = "CNN DAE (a)"
PUB_DAE_B = "CNN DAE (b)"

# --- sources (the "source" column) ------------------------------------------------------------------
PUBLISHED = "published"
MEASURED = "measured"
UNTUNED = "untuned"
TUNED = "tuned"
FAITHFUL = "paper-faithful"
OURS_SOURCE = "ours"

#: The classical rows every table has, with their sources.
METHOD_ROWS: tuple[tuple[str, str], ...] = (
    (NOISY, MEASURED),
    (NLM_UNTUNED, UNTUNED),
    (NLM_TUNED, TUNED),
    (MEDIAN_UNTUNED, UNTUNED),
    (MEDIAN_TUNED, TUNED),
    (BM3D, OURS_SOURCE),
)
