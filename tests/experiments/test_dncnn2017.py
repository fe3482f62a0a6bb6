"""The dncnn2017 reproduction: its protocol pieces (noise, training config, loading), resume, --test-dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from meddenoise.experiments.registry import ReproductionError, get_reproduction
from meddenoise.experiments.reproductions.dncnn2017 import (
    BM3D_PUBLISHED,
    DNCNN2017,
    DNCNN_PUBLISHED,
    DnCNN2017Config,
    add_noise,
    load_grey_images,
    train_config,
)

#: The quick variant without the classical baselines and with one sigma: the training and resume path only.
_LEAN = {"baselines": (), "sigmas": (25.0,), "max_test_images": 1}


def test_published_set12_averages_are_the_papers_table_iii() -> None:
    table = DNCNN2017["set12"]
    assert table.columns == ("sigma 15", "sigma 25", "sigma 50")
    assert table.rows[BM3D_PUBLISHED] == (32.37, 29.97, 26.72)
    assert table.rows[DNCNN_PUBLISHED] == (32.86, 30.44, 27.18)


def test_noise_is_unclipped_awgn_on_the_255_scale_and_seeded() -> None:
    image = np.full((200, 200), 0.02, np.float32)  # near black: clipping would bias the noise upwards
    noisy = add_noise(image, 25.0, seed=3)
    residual = noisy.astype(np.float64) - image
    n = residual.size
    assert residual.min() < 0  # not clipped at 0
    assert abs(residual.mean()) < 5 * (25 / 255) / np.sqrt(n)
    assert abs(residual.std() - 25 / 255) < 5 * (25 / 255) / np.sqrt(2 * n)
    assert np.array_equal(noisy, add_noise(image, 25.0, seed=3))
    assert not np.array_equal(noisy, add_noise(image, 25.0, seed=4))


def test_training_config_is_one_conditioned_network_over_0_to_55() -> None:
    config = DnCNN2017Config(threads=1, epochs=7, patches_per_image=3)
    tc = train_config(config)
    assert tc.model == "ffdunet" and tc.model_params == {"channels": [32, 64, 128, 256], "blocks": 1}
    assert tc.noise is None and tc.objective.kind == "conditioned"
    objective = tc.objective.model_dump()
    assert objective["sigma_low"] == 0.0 and objective["sigma_high"] == pytest.approx(55 / 255)
    assert objective["clean_fraction"] == 0.0
    assert tc.val_fraction == 0.0 and tc.epochs == 7 and tc.num_threads == 1
    assert tc.data.patches_per_image == 3 and tc.data.augment_flips and tc.data.augment_rot90
    assert tc.optim.schedule == "cosine" and tc.precision == "fp32"


def test_config_refuses_unknown_baselines_and_nonpositive_sigmas() -> None:
    rep = get_reproduction("dncnn2017")
    with pytest.raises(ReproductionError, match="unknown baselines"):
        rep.make_config(baselines=("wnnm",))
    with pytest.raises(ReproductionError, match="positive"):
        rep.make_config(sigmas=(0.0,))


def test_list_options_given_as_text_on_the_command_line() -> None:
    rep = get_reproduction("dncnn2017")
    config = rep.configure(rep.make_config(), {"sigmas": "15, 25", "channels": "8,16", "baselines": ""})
    assert isinstance(config, DnCNN2017Config)
    assert config.sigmas == (15.0, 25.0) and config.channels == (8, 16) and config.baselines == ()


def test_a_test_dir_run_gets_its_own_report_folder() -> None:
    rep = get_reproduction("dncnn2017")
    assert rep.report_name({}) == "dncnn2017"
    assert rep.report_name({"test_dir": Path("/data/kodak-grey")}) == "dncnn2017-kodak-grey"


def _write_pngs(folder: Path, sizes: list[tuple[int, int]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for k, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(folder / f"img{k}.png")


def test_grey_images_of_any_size_load_and_a_bad_file_is_reported(tmp_path: Path) -> None:
    _write_pngs(tmp_path, [(40, 48), (64, 64)])
    (tmp_path / "broken.png").write_bytes(b"not a png")
    images, names, failures = load_grey_images(tmp_path, crop=32)
    assert names == ["img0.png", "img1.png"]
    assert [im.shape for im in images] == [(32, 32), (32, 32)]
    original = np.asarray(Image.open(tmp_path / "img1.png"), dtype=np.float32) / 255
    assert np.array_equal(images[1], original[16:48, 16:48])  # the centre crop, 8-bit scaled by 255
    assert len(failures) == 1 and failures[0].startswith(f"{tmp_path / 'broken.png'}: ")
    assert "\n" not in failures[0]


def _run(data: Path, out: Path, **fields: Any) -> dict[str, Any]:
    from meddenoise.experiments.reproduce import run_experiment

    run_experiment(
        "dncnn2017", data_dir=data, out_dir=out, quick=True, threads=1, log=lambda _m: None, **fields
    )
    return json.loads((out / "results.json").read_text())


@pytest.mark.integration
def test_an_interrupted_training_resumes_where_it_stopped(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import meddenoise.training as training

    whole = _run(shared_data, tmp_path / "whole", **_LEAN)
    assert whole["extra"]["model"]["epochs_done"] == 2 and whole["protocol"]["data"]["resumed"] is False

    real_train = training.train

    def killed_after_one_epoch(*args: Any, **kwargs: Any) -> Any:
        kwargs["on_epoch_end"] = lambda row: row["epoch"] == 1  # stop as a killed run would, checkpointed
        return real_train(*args, **kwargs)

    monkeypatch.setattr(training, "train", killed_after_one_epoch)
    cut = _run(shared_data, tmp_path / "cut", **_LEAN)
    assert cut["extra"]["model"]["epochs_done"] == 1
    monkeypatch.setattr(training, "train", real_train)
    again = _run(shared_data, tmp_path / "cut", **_LEAN)
    model = again["extra"]["model"]
    assert again["protocol"]["data"]["resumed"] is True and model["resumed_utc"]
    assert model["epochs_done"] == 2
    history = json.loads((tmp_path / "cut" / "training" / "history.json").read_text())
    whole_history = json.loads((tmp_path / "whole" / "training" / "history.json").read_text())
    # the cosine schedule went on where it stopped (a restart would train epoch 2 at the full rate)
    assert [r["lr"] for r in history] == [r["lr"] for r in whole_history] == [5e-4, 2.5e-4]
    # Bit-exact equality is not asserted: this CPU's oneDNN kernels give one of two last-bit outcomes
    # from run to run even uninterrupted; the resumed network must score like the uninterrupted one.
    ours = "ffdunet, told sigma (ours)"

    def psnr(data: dict[str, Any]) -> float:
        rows = {t["key"]: t for t in data["tables"]}["dncnn2017/set12"]["rows"]
        return float(next(r for r in rows if r["label"] == ours)["cells"]["sigma 25"]["mean"])

    assert psnr(again) == pytest.approx(psnr(whole), abs=0.05)
    assert abs(psnr(again) - psnr(cut)) > 0.05  # the second epoch changed the network: it did train
    with pytest.raises(ReproductionError, match=r"different config.*to train anew choose another --out"):
        _run(shared_data, tmp_path / "cut", **{**_LEAN, "channels": (8, 16, 32)})


@pytest.mark.integration
def test_reproduce_test_dir_scores_another_folder_via_the_cli(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import meddenoise.classical
    from meddenoise.cli.main import app

    monkeypatch.setattr(meddenoise.classical, "bm3d_available", lambda: False)  # a machine without bm3d

    folder = tmp_path / "mine"
    _write_pngs(folder, [(48, 40)])
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "report"
    args = ["reproduce", "dncnn2017", "--data-dir", str(shared_data), "--quick", "--threads", "1"]
    args += ["--test-dir", str(folder), "--out", str(out), "--set", "baselines=bm3d", "--set", "sigmas=50"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    table = {t["key"]: t for t in data["tables"]}["dncnn2017/test_dir"]
    assert table["columns"] == ["sigma 50"]
    assert all(r["source"] != "published" for r in table["rows"])  # Set12's numbers are not shown here
    assert {r["label"] for r in table["rows"]} == {
        "Noisy input",
        "ffdunet, told sigma (ours)",
        "ffdunet, blind: estimated sigma (ours)",
        "ffdunet x8 self-ensemble, told sigma (ours)",
        "ffdunet x8 self-ensemble, blind: estimated sigma (ours)",
    }
    assert any(n.startswith("No BM3D row: the optional bm3d package") for n in data["notes"])
    assert data["protocol"]["data"]["test_images"] == ["img0.png"]
    assert data["protocol"]["data"]["unreadable"][0].startswith(str(folder / "broken.png"))


def test_test_dir_is_an_option_of_dncnn2017_only(tmp_path: Path) -> None:
    from meddenoise.experiments.reproduce import run_experiment

    with pytest.raises(ReproductionError, match=r"--test-dir applies to dncnn2017 only"):
        run_experiment(
            "gondara2016", data_dir=tmp_path, out_dir=tmp_path / "o", test_dir=tmp_path, log=lambda _m: None
        )
