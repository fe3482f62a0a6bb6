"""End-to-end ``--quick`` runs of every reproduction on the shared data (the same code path as the full runs)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from meddenoise.experiments.reproduce import run_experiment
from meddenoise.experiments.runner import RESULTS_SCHEMA

pytestmark = pytest.mark.integration  # the tests that use shared_data get `data` from conftest.py


def _check_report(out: Path, experiment: str) -> dict:
    data = json.loads((out / "results.json").read_text())
    assert data["schema"] == RESULTS_SCHEMA
    assert data["experiment"] == experiment and data["quick"] is True and data["seed"] == 0
    env = data["environment"]
    assert env["packages"]["torch"] and env["cpu_count"] and "git_commit" in env
    assert data["timings"]["total"] > 0 and data["command"]
    assert data["tables"], "no tables"
    for table in data["tables"]:
        sources = {row["source"] for row in table["rows"]}
        assert "published" in sources, f"{table['key']} has no Published row"
        assert sources - {"published"}, f"{table['key']} has no measured row"
        stem = table["key"].split("/", 1)[1]
        with (out / f"{stem}.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == len(table["rows"]) and rows[0]["source"] == "published"
    page = (out / "index.html").read_text()
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == len(data["figures"]) > 0
    assert 'src="http' not in page and "href=" not in page  # self-contained
    for fig in data["figures"]:
        assert (out / fig["file"]).read_bytes().startswith(b"\x89PNG")
    assert "Environment" in page and data["command"].split()[0] in page
    return data


def test_gondara2016_quick(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "gondara2016"
    lines: list[str] = []
    run_experiment(
        "gondara2016",
        data_dir=shared_data,
        out_dir=out,
        quick=True,
        seed=0,
        log=lines.append,
        train_processes=2,
    )
    data = _check_report(out, "gondara2016")
    # the baselines and the networks ran two at a time in worker processes; the networks were then loaded,
    # each with its own time, and no setting's baselines were computed again here
    steps = list(data["timings"])
    assert any(
        s.startswith("classical baselines of 3 settings, then 8 trainings, 2 at a time") for s in steps
    )
    assert not [s for s in steps if s.startswith("classical baselines: ")]
    assert set(data["protocol"]["tuned_parameters"]) == {"g0.1s1", "g0.2s10", "p0.2l5"}
    assert not [s for s in steps if s.startswith(("train dae-", "train ours-"))]
    trainings = data["extra"]["trainings"]
    # each with the seconds it took in its worker (logged as it finished), not the time its loading took
    worker_seconds = {
        m.group(1): float(m.group(2))
        for m in (re.search(r"\]   (\S+) done in ([0-9.]+) s", ln) for ln in lines)
        if m
    }
    assert len(trainings) == 8
    for name, training in trainings.items():
        assert training["seconds"] == pytest.approx(worker_seconds[name], abs=0.051), name
    loaded = {s.split()[1].rstrip(":") for s in steps if s.startswith(("load dae-", "load ours-"))}
    assert loaded == set(trainings)
    keys = {t["key"] for t in data["tables"]}
    assert {
        "gondara2016/table2",
        "gondara2016/table3",
        "gondara2016/table4",
        "gondara2016/table2_dr2",
    } <= keys
    t2 = next(t for t in data["tables"] if t["key"] == "gondara2016/table2")
    labels = {(r["label"], r["source"]) for r in t2["rows"]}
    assert ("CNN DAE (paper-faithful)", "paper-faithful") in labels and ("Median (tuned)", "tuned") in labels
    noisy = next(r for r in t2["rows"] if r["label"] == "Noisy" and r["source"] == "measured")
    assert 0 < noisy["cells"]["MMM"]["mean"] < 1 and noisy["cells"]["MMM"]["std"] is not None
    # SSIM inside the body mask beside the whole-image SSIM: another number (the background is left out)
    body = next(t for t in data["tables"] if t["key"] == "gondara2016/table2_body")
    noisy_body = next(r for r in body["rows"] if r["label"] == "Noisy" and r["source"] == "measured")
    assert 0 < noisy_body["cells"]["MMM"]["mean"] < 1
    assert abs(noisy_body["cells"]["MMM"]["mean"] - noisy["cells"]["MMM"]["mean"]) > 1e-3
    assert any("inside" in note and "body mask" in note for note in data["notes"])
    dx = data["protocol"]["data"]["DX"]
    assert sorted(dx["dropped_duplicates"]) == ["087.png", "129.png", "134.png", "144.png"]
    assert all(d["likely_reason"] for d in data["discrepancies"])
    # A reason quoting the data_range=2 value quotes the measured cell of the _dr2 table, not the published one.
    tables = {t["key"]: t for t in data["tables"]}
    for d in data["discrepancies"]:
        quoted = re.search(r"we measure (\d\.\d{3})", d["likely_reason"])
        if quoted:
            rows = tables[d["table"] + "_dr2"]["rows"]
            row = next(r for r in rows if r["label"] == d["row"] and r["source"] == d["source"])
            assert float(quoted.group(1)) == pytest.approx(row["cells"][d["column"]]["mean"], abs=6e-4)
    # Ours against the published CNN DAE: every published column of the settings run, each judged with the
    # SSIM data_range whose Noisy row is closer to the published one, and the differences add up.
    verdict = {r["label"]: r["cells"] for r in tables["gondara2016/ours_vs_published"]["rows"]}
    sources = {r["label"]: r["source"] for r in tables["gondara2016/ours_vs_published"]["rows"]}
    assert sources["CNN DAE (paper-faithful)"] == "paper-faithful" and sources["Ours"] == "ours"
    assert sources["Published CNN DAE"] == "published"
    assert list(verdict["Ours"]) == ["MMM", "DX", "Combined", "sd=10", "Poisson, lambda=5"]
    for column, ours in verdict["Ours"].items():
        published = verdict["Published CNN DAE"][column]["mean"]
        assert verdict["Ours - published CNN DAE"][column]["mean"] == pytest.approx(ours["mean"] - published)
        matched = "ssim" if verdict["Matched data_range"][column]["mean"] == 1 else "ssim_dr2"
        other = "ssim_dr2" if matched == "ssim" else "ssim"
        table = {"MMM": "table2", "DX": "table2", "Combined": "table3"}.get(column, "table4")
        suffix = {"ssim": "", "ssim_dr2": "_dr2"}
        noisy = {
            s: next(
                r
                for r in tables[f"gondara2016/{table}{suffix[s]}"]["rows"]
                if r["label"] == "Noisy" and r["source"] == "measured"
            )["cells"][column]["mean"]
            for s in ("ssim", "ssim_dr2")
        }
        pub_noisy = verdict["Published Noisy"][column]["mean"]
        assert abs(noisy[matched] - pub_noisy) <= abs(noisy[other] - pub_noisy)
        ours_row = next(
            r
            for r in tables[f"gondara2016/{table}{suffix[matched]}"]["rows"]
            if r["label"] == "Ours (per setting)"
        )
        assert ours["mean"] == pytest.approx(ours_row["cells"][column]["mean"])
    assert verdict["Published CNN DAE"]["Combined"]["mean"] == 0.90  # the better of Table III's (a) and (b)
    assert any("published CNN DAE + 0.05" in note for note in data["notes"])
    assert any("applied as a x8 self-ensemble" in note for note in data["notes"])  # ours_ensemble's default
    assert {f["title"] for f in data["figures"]} >= {
        "Fig. 6",
        "Fig. 7",
        "Fig. 8",
        "Fig. 9",
        "Fig. 10",
        "Fig. 11",
    }


def test_gondara2016_gives_the_same_tables_with_trainings_one_after_another(
    shared_data: Path, tmp_path: Path
) -> None:
    """``train_processes=1`` (one core) computes the baselines and trains in this process, one after another:
    the same numbers as in worker processes."""
    cells = {}
    for processes in (1, 2):
        out = tmp_path / f"p{processes}"
        run_experiment(
            "gondara2016",
            data_dir=shared_data,
            out_dir=out,
            quick=True,
            log=lambda _m: None,
            train_processes=processes,
            threads=2,
            settings=("g0.1s1",),
        )
        data = json.loads((out / "results.json").read_text())
        steps = list(data["timings"])
        assert any(s.startswith("train dae-MMM") for s in steps) == (processes == 1)
        assert any(s.startswith("classical baselines: ") for s in steps) == (processes == 1)
        cells[processes] = {
            (t["key"], r["label"], column): cell["mean"]
            for t in data["tables"]
            for r in t["rows"]
            if r["source"] != "published"
            for column, cell in r["cells"].items()
        }
    # the networks equal up to float rounding (one torch thread in a worker against two here); the classical
    # filters exactly, BM3D included (single-threaded, so the same on every run)
    assert cells[1] == pytest.approx(cells[2], rel=1e-6)
    classical = {k: v for k, v in cells[1].items() if not k[1].startswith(("CNN DAE", "Ours"))}
    assert classical == {k: cells[2][k] for k in classical}
    assert ("gondara2016/table2", "BM3D", "MMM") in classical
    assert ("gondara2016/table2", "Median (tuned)", "MMM") in classical
    assert ("gondara2016/table3", "Ours (per setting)", "Combined") in cells[1]
    assert ("gondara2016/table2", "CNN DAE (paper-faithful)", "MMM") in cells[1]


def test_modality_study_quick(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "modality"
    run_experiment(
        "modality-study", data_dir=shared_data, out_dir=out, quick=True, seed=0, log=lambda _m: None
    )
    data = _check_report(out, "modality-study")
    cross = next(t for t in data["tables"] if t["key"] == "modality-study/cross_psnr")
    assert cross["columns"] == ["MRI", "CT", "X-ray"]
    assert {r["label"] for r in cross["rows"]} >= {"trained on MRI", "trained on shared"}
    assert data["protocol"]["data"]["CT"]["split"] == "by DICOM PatientID"


def test_modality_study_retries_a_collapsed_training(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import meddenoise.experiments.reproductions.modality_study as study

    calls: list[int] = []

    def first_collapses(*_args: object, **_kwargs: object) -> bool:
        calls.append(1)
        return len(calls) == 1  # the first (MRI) training "collapses", its retry and the rest do not

    monkeypatch.setattr(study, "output_collapsed", first_collapses)
    out = tmp_path / "modality"
    run_experiment(
        "modality-study", data_dir=shared_data, out_dir=out, quick=True, seed=0, log=lambda _m: None
    )
    data = json.loads((out / "results.json").read_text())
    assert list(data["extra"]["collapsed_training_seeds"]) == ["MRI"]
    (collapse,) = data["extra"]["collapsed_training_seeds"]["MRI"]
    assert collapse["lr"] == 1e-3
    assert any(
        n.startswith("MRI: training collapsed") and "trained normally at seed" in n and "lr 0.0001" in n
        for n in data["notes"]
    )
    retry_config = json.loads((out / "runs" / "MRI-retry1" / "config.json").read_text())
    assert retry_config["optim"]["lr"] == pytest.approx(1e-4)
    assert (out / "runs" / "MRI-retry1").is_dir() and len(calls) == 5


def test_modality_study_64_adds_chest_xray_split_by_patient(shared_data: Path) -> None:
    from meddenoise.experiments.registry import derive, get_reproduction
    from meddenoise.experiments.reproductions.modality_study import ModalityConfig, load_modalities

    quick = get_reproduction("modality-study").make_config(quick=True, seed=0)
    assert isinstance(quick, ModalityConfig)
    config = derive(
        quick, size=64, max_files_per_folder=40, max_train_per_modality=None, max_test_per_modality=None
    )
    train, test, info = load_modalities(shared_data, config)
    xray = info["X-ray"]
    assert "chest-xray-64" in xray["source"] and "not_used" not in xray
    per_source = xray["per_source"]
    assert set(per_source) == {"dental-ceph", "mini-mias", "chest-xray-64"}
    assert sum(v["train"] for v in per_source.values()) == len(train["X-ray"]) == xray["train"]
    assert sum(v["test"] for v in per_source.values()) == len(test["X-ray"]) == xray["test"]
    assert per_source["chest-xray-64"]["train"] > 0 and per_source["chest-xray-64"]["test"] > 0
    assert train["X-ray"].shape[1:] == test["MRI"].shape[1:] == (64, 64)


def test_modality_study_128_leaves_chest_xray_out(shared_data: Path) -> None:
    from meddenoise.experiments.registry import get_reproduction
    from meddenoise.experiments.reproductions.modality_study import ModalityConfig, load_modalities

    config = get_reproduction("modality-study").make_config(quick=True, seed=0)
    assert isinstance(config, ModalityConfig)
    _, _, info = load_modalities(shared_data, config)
    assert "chest-xray-64" in info["X-ray"]["not_used"]
    assert set(info["X-ray"]["per_source"]) == {"dental-ceph", "mini-mias"}


def test_reproduce_size_is_for_the_modality_study_only(shared_data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from meddenoise.cli.main import app

    result = CliRunner().invoke(
        app,
        [
            "reproduce",
            "gondara2016",
            "--data-dir",
            str(shared_data),
            "--quick",
            "--size",
            "64",
            "--out",
            str(tmp_path / "g"),
        ],
    )
    assert result.exit_code == 1 and "modality-study only" in result.output


def test_dense_vs_conv_quick_via_cli(shared_data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from meddenoise.cli.main import app

    out = tmp_path / "dvc"
    result = CliRunner().invoke(
        app, ["reproduce", "dense-vs-conv", "--data-dir", str(shared_data), "--quick", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "total time" in result.output and "index.html" in result.output
    data = _check_report(out, "dense-vs-conv")
    params = next(t for t in data["tables"] if t["key"] == "dense-vs-conv/params")
    measured = {
        r["label"]: r["cells"]["Trainable parameters"]["mean"]
        for r in params["rows"]
        if r["source"] == "measured"
    }
    assert measured == {"Fully connected autoencoder": 101200, "Convolutional autoencoder": 28353}


def test_reproduce_cli_rejects_a_missing_data_folder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from meddenoise.cli.main import app

    result = CliRunner().invoke(app, ["reproduce", "gondara2016", "--data-dir", str(tmp_path / "nope")])
    assert result.exit_code != 0
    assert "not found" in result.output


def test_dncnn2017_quick(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "dncnn2017"
    run_experiment("dncnn2017", data_dir=shared_data, out_dir=out, quick=True, seed=0, log=lambda _m: None)
    data = _check_report(out, "dncnn2017")
    set12 = next(t for t in data["tables"] if t["key"] == "dncnn2017/set12")
    assert set12["columns"] == ["sigma 15", "sigma 25", "sigma 50"]
    rows = {r["label"]: r for r in set12["rows"]}
    assert rows["BM3D (published)"]["cells"]["sigma 25"]["mean"] == 29.97
    assert rows["DnCNN-S (published)"]["cells"]["sigma 50"]["mean"] == 27.18
    from meddenoise.classical import bm3d_available

    classical = ["NL-means, told sigma (scikit-image)"]
    classical += ["BM3D, told sigma (bm3d package)"] if bm3d_available() else []
    for label in classical:
        cells = rows[label]["cells"]
        # on the 64x64 quick crops the classical filters still clean up: above the noisy input at every sigma
        assert all(cells[c]["mean"] > rows["Noisy input"]["cells"][c]["mean"] + 3 for c in set12["columns"])
        assert cells["sigma 15"]["n"] == 2
    told = rows["ffdunet, told sigma (ours)"]["cells"]
    blind = rows["ffdunet, blind: estimated sigma (ours)"]["cells"]
    assert any(
        told[c]["mean"] != blind[c]["mean"] for c in set12["columns"]
    )  # told the true sigma, not the estimate
    # the x8 self-ensemble (the config's default) is scored beside the one pass, told and blind
    told_x8 = rows["ffdunet x8 self-ensemble, told sigma (ours)"]["cells"]
    assert rows["ffdunet x8 self-ensemble, blind: estimated sigma (ours)"]["source"] == "ours"
    assert all(told_x8[c]["mean"] != told[c]["mean"] for c in set12["columns"])
    noisy = rows["Noisy input"]["cells"]
    # unclipped AWGN: the noisy PSNR is 20 log10(255 / sigma) up to the draw
    for sigma in (15, 25, 50):
        assert noisy[f"sigma {sigma}"]["mean"] == pytest.approx(20 * np.log10(255 / sigma), abs=0.3)
    model = data["extra"]["model"]
    assert model["shipped"] is False and model["weights_sha256"] and model["parameters"] > 0
    if bm3d_available():
        assert set(data["extra"]["targets"]) == {"sigma 15", "sigma 25", "sigma 50"}
        assert set(data["extra"]["targets"]["sigma 15"]) == {"told >= BM3D", "ensemble told >= BM3D"}
        assert any("x8 self-ensemble: " in note for note in data["notes"])
    assert {f["title"] for f in data["figures"]} == {"Test image at sigma 25", "Training loss"}


def test_a_stopped_reproduction_resumes_its_trainings(shared_data: Path, tmp_path: Path) -> None:
    """``resume=True`` keeps ``runs/``: a finished training is reused, a missing one trained; same tables."""
    from safetensors.numpy import load_file

    out = tmp_path / "dvc"
    run_experiment("dense-vs-conv", data_dir=shared_data, out_dir=out, quick=True, log=lambda _: None)
    first = json.loads((out / "results.json").read_text())["tables"]
    runs = sorted(p for p in (out / "runs").iterdir() if p.is_dir())
    assert len(runs) == 2
    kept, lost = runs
    kept_weights = (kept / "best.safetensors").read_bytes()
    kept_written = (kept / "best.safetensors").stat().st_mtime_ns
    lost_weights = load_file(lost / "best.safetensors")
    for path in sorted(lost.iterdir()):  # as if the run had stopped before this training began
        path.unlink()
    lost.rmdir()

    run_experiment(
        "dense-vs-conv", data_dir=shared_data, out_dir=out, quick=True, log=lambda _: None, resume=True
    )
    data = json.loads((out / "results.json").read_text())
    assert data["protocol"]["config"]["resume"] is True
    assert (kept / "best.safetensors").stat().st_mtime_ns == kept_written  # reused, not trained again
    assert (kept / "best.safetensors").read_bytes() == kept_weights
    again = load_file(lost / "best.safetensors")  # trained again: seeded, the same tensors
    assert again.keys() == lost_weights.keys()
    assert all(np.array_equal(again[k], lost_weights[k]) for k in again)
    assert data["tables"] == first

    run_experiment("dense-vs-conv", data_dir=shared_data, out_dir=out, quick=True, log=lambda _: None)
    assert (kept / "best.safetensors").stat().st_mtime_ns != kept_written  # without resume: replaced
