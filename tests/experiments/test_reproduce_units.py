"""Unit tests of the reproduction machinery: tables, records, published numbers, IDX reader, figures, HTML."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meddenoise.data import read_idx_images
from meddenoise.evaluation import score_images
from meddenoise.experiments.figures import image_grid, loss_curves
from meddenoise.experiments.protocol import derived_seed, seeded_split
from meddenoise.experiments.registry import published_tables
from meddenoise.experiments.reproductions.gondara2016.published import GONDARA2016
from meddenoise.experiments.reproductions.gondara2016.settings import BODY, SCORES
from meddenoise.experiments.runner import (
    RESULTS_SCHEMA,
    Cell,
    ExperimentRecord,
    ResultTable,
    cell_from_values,
    environment_info,
)
from meddenoise.metrics import ssim
from meddenoise.metrics.masks import body_mask
from meddenoise.report.experiment_report import write_experiment_report


def _record(tmp_path: Path) -> ExperimentRecord:
    rec = ExperimentRecord(
        "unit", "Unit test run", tmp_path, seed=3, quick=True, command="x", log=lambda _m: None
    )
    table = ResultTable("unit/table2", "Table II", "ssim", ["MMM", "DX"])
    table.add_published(GONDARA2016["table2"])
    table.add_row("Noisy", "measured", {"MMM": cell_from_values([0.3, 0.4]), "DX": Cell(0.7, 0.1, 5)})
    table.add_row("CNN DAE (paper-faithful)", "paper-faithful", {"MMM": 0.83, "DX": 0.5})
    rec.add_table(table)
    return rec


def test_published_numbers_match_the_papers() -> None:
    tables = published_tables()
    assert tables["gondara2016/table4"].value("CNN DAE", "sd=10") == 0.39
    assert tables["gondara2016/table3"].value("CNN DAE (b)", "Combined") == 0.90
    assert tables["modality-study/metrics"].rows["Conv AE 64/128 (published)"] == (
        29.55,
        0.8742,
        0.0226,
        0.0850,
    )
    assert tables["dense-vs-conv/params"].value("Convolutional autoencoder", "Trainable parameters") == 28353
    assert tables["dense-vs-conv/val_loss"].value("Fully connected autoencoder", "Validation loss") == 0.2305
    assert tables["dncnn2017/set12"].value("DnCNN-S (published)", "sigma 25") == 30.44
    assert all("shared/seeds/" in t.source for t in tables.values())


def test_table_rows_and_unknown_columns(tmp_path: Path) -> None:
    rec = _record(tmp_path)
    table = rec.table("unit/table2")
    assert table.row("Noisy", "published").cells["MMM"] == Cell(0.45)
    assert table.row("Noisy", "measured").cells["MMM"].mean == pytest.approx(0.35)
    assert table.row("Noisy", "measured").cells["MMM"].std == pytest.approx(0.05)
    with pytest.raises(ValueError, match="unknown columns"):
        table.add_row("x", "measured", {"Combined": 1.0})
    assert "| Noisy | published | 0.450 | 0.620 |" in table.to_markdown()


def test_discrepancies_flag_only_cells_beyond_tolerance(tmp_path: Path) -> None:
    rec = _record(tmp_path)
    found = rec.compare_with_published(
        rec.table("unit/table2"),
        pairs={"Noisy": ("Noisy", "measured"), "CNN DAE": ("CNN DAE (paper-faithful)", "paper-faithful")},
        tolerance=0.05,
        reasons={"Noisy": "data_range", "CNN DAE": "data"},
    )
    cells = {(d["row"], d["column"]) for d in found}
    # Noisy MMM 0.35 vs 0.45 and DX 0.70 vs 0.62 differ; the DAE's MMM 0.83 vs 0.81 does not, DX 0.5 vs 0.88 does.
    assert cells == {("Noisy", "MMM"), ("Noisy", "DX"), ("CNN DAE (paper-faithful)", "DX")}
    assert all(d["likely_reason"] for d in found)


def test_save_writes_schema_csv_and_timings(tmp_path: Path) -> None:
    rec = _record(tmp_path)
    with rec.step("work"):
        pass
    data = rec.save()
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["schema"] == RESULTS_SCHEMA == data["schema"]
    assert {
        "experiment",
        "seed",
        "command",
        "environment",
        "tables",
        "figures",
        "timings",
        "protocol",
    } <= set(on_disk)
    assert "work" in on_disk["timings"] and "total" in on_disk["timings"]
    rows = list(csv.DictReader((tmp_path / "table2.csv").open()))
    assert rows[0]["source"] == "published" and float(rows[0]["MMM_mean"]) == 0.45
    assert any(r["source"] == "measured" and r["MMM_n"] == "2" for r in rows)


def test_environment_has_versions_cpu_and_commit() -> None:
    env = environment_info()
    assert env["packages"]["numpy"] == np.__version__
    assert env["cpu_count"] and env["python"]
    assert "git_commit" in env


def test_html_report_embeds_images_and_published_rows(tmp_path: Path) -> None:
    rec = _record(tmp_path)
    path = image_grid({"a": np.zeros((2, 8, 8)), "b": np.ones((2, 8, 8))}, rec.figure_path("grid.png"))
    rec.add_figure(path, "Grid")
    rec.add_figure(
        loss_curves({"m": {"train": [1.0, 0.5], "val": [1.1, 0.7]}}, rec.figure_path("loss.png")), "Loss"
    )
    rec.notes.append("a note")
    rec.save()
    page = write_experiment_report(tmp_path).read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "Published" in page or "published" in page
    assert "0.450" in page and "a note" in page and "Environment" in page
    assert "meddenoise view scans/ denoised/" in page  # reports point to the zoomable viewer (issue 16)


def test_report_without_results_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"results\.json"):
        write_experiment_report(tmp_path)


def test_image_grid_rejects_ragged_rows(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="same number"):
        image_grid({"a": np.zeros((2, 8, 8)), "b": np.zeros((3, 8, 8))}, tmp_path / "x.png")


def _idx_bytes(images: np.ndarray) -> bytes:
    n, r, c = images.shape
    header = b"".join(int(v).to_bytes(4, "big") for v in (0x803, n, r, c))
    return header + images.astype(np.uint8).tobytes()


def test_idx_reader_round_trip_and_errors(tmp_path: Path, rng: np.random.Generator) -> None:
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    gz = tmp_path / "imgs-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(_idx_bytes(images)))
    np.testing.assert_array_equal(read_idx_images(gz), images)
    raw = tmp_path / "imgs-idx3-ubyte"
    raw.write_bytes(_idx_bytes(images)[:-3])
    with pytest.raises(ValueError, match=r"expected .* bytes"):
        read_idx_images(raw)
    raw.write_bytes(b"\x00\x00\x08\x01" + bytes(12))
    with pytest.raises(ValueError, match="not an IDX3"):
        read_idx_images(raw)


def test_idx_reader_reads_the_shared_mnist(shared_data: Path) -> None:
    images = read_idx_images(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8 and images.max() == 255


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 200), frac=st.floats(0.05, 0.95), seed=st.integers(0, 2**31))
def test_seeded_split_partitions_and_repeats(n: int, frac: float, seed: int) -> None:
    n_train = min(n - 1, max(1, round(frac * n)))
    train, test = seeded_split(n, n_train, rng=seed)
    assert len(train) == n_train and len(np.intersect1d(train, test)) == 0
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(n))
    again, _ = seeded_split(n, n_train, rng=seed)
    np.testing.assert_array_equal(train, again)


def test_derived_seed_is_stable_and_purpose_specific() -> None:
    assert derived_seed(0, "split") == derived_seed(0, "split")
    assert derived_seed(0, "split") != derived_seed(0, "noise")
    assert derived_seed(0, "split") != derived_seed(1, "split")


def test_gondara_scores_use_both_ssim_ranges(rng: np.random.Generator) -> None:
    clean = rng.random((3, 32, 32)).astype(np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    s = score_images(clean, noisy, SCORES, masks=BODY)
    assert set(s) == {"ssim", "ssim_dr2", "psnr", "ssim_body"} and s["ssim"].shape == (3,)
    # A larger data_range means larger stabilising constants C1, C2: SSIM rises.
    assert np.all(s["ssim_dr2"] > s["ssim"])
    np.testing.assert_array_equal(score_images(clean, clean, SCORES, masks=BODY)["ssim"], np.ones(3))
    # ssim_body: the same SSIM (7x7, data_range=1) averaged inside each clean image's body mask
    for i in range(3):
        expected = ssim(noisy[i], clean[i], data_range=1.0, win_size=7, mask=body_mask(clean[i]))
        assert s["ssim_body"][i] == pytest.approx(expected)


def test_tables_markdown_from_a_saved_run(tmp_path: Path) -> None:
    from meddenoise.report.experiment_report import tables_markdown

    _record(tmp_path).save()
    text = tables_markdown(tmp_path, keys=["unit/table2"])
    assert "| Noisy | published | 0.450 | 0.620 |" in text
    assert "| Noisy (n=2) | measured | 0.350 ± 0.050 |" not in text  # DX has n=5: counts differ, no label n
    assert "| Noisy | measured | 0.350 ± 0.050 | 0.700 ± 0.100 |" in text


def test_nih_patient_id_from_chest_xray_64_names() -> None:
    from meddenoise.data.curation import nih_patient_id

    assert nih_patient_id("test_0_normal_00000231_013.png") == "00000231"
    assert nih_patient_id("train_1_abnormal_00012345_000.png") == "00012345"
    with pytest.raises(ValueError, match="not a chest-xray-64 file name"):
        nih_patient_id("mdb001.png")


def test_output_collapsed_flags_a_constant_network_only() -> None:
    from meddenoise.classical import get_classical
    from meddenoise.experiments.protocol import output_collapsed

    rng = np.random.default_rng(0)
    clean = rng.random((4, 32, 32)).astype(np.float32)
    noisy = np.clip(clean + 0.3 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)

    def saturated(x: np.ndarray) -> np.ndarray:  # a sigmoid stuck at 0: tiny, input-independent output
        return np.full_like(x, 1e-4) + 1e-4 * x

    assert output_collapsed(saturated, noisy, clean)
    assert not output_collapsed(lambda x: x, noisy, clean)
    assert not output_collapsed(get_classical("median"), noisy, clean)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "auto"])
def test_gondara_precision_reaches_both_trainings(precision: str) -> None:
    from meddenoise.experiments.reproductions.gondara2016 import GondaraConfig
    from meddenoise.experiments.reproductions.gondara2016.training import dae_config, ours_config

    assert GondaraConfig().precision == "auto"  # bf16 where the CPU is faster at it, else the papers' fp32
    config = GondaraConfig(precision=precision)
    assert dae_config(config).precision == precision
    assert ours_config(config, "g0.1s1", seed=0).precision == precision
    with pytest.raises(ValueError, match="precision"):
        GondaraConfig(precision="fp16")


def test_gondara_trainings_start_longest_first() -> None:
    # the job order of gondara2016's worker processes: ours before the DAEs when ours train 200 epochs,
    # after them with --ours-epochs 1 (then the short ones fill the end of the run either way)
    from meddenoise.experiments.reproductions.gondara2016.settings import GondaraConfig
    from meddenoise.experiments.reproductions.gondara2016.training import (
        _longest_first,
        dae_config,
        ours_config,
    )

    combined, dx = np.zeros((410, 64, 64), np.float32), np.zeros((110, 64, 64), np.float32)
    full, faithful = GondaraConfig(), GondaraConfig(ours_epochs=1)
    order = _longest_first(
        {
            "ours-1-epoch": (ours_config(faithful, "p0.2l5", seed=1), combined),
            "dae-DX": (dae_config(full), dx),
            "dae-combined": (dae_config(full), combined),
            "ours": (ours_config(full, "p0.2l5", seed=1), combined),
        }
    )
    assert order == ["ours", "dae-combined", "dae-DX", "ours-1-epoch"]
