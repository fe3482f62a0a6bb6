"""The shipped pretrained models: files, checksums, cards, loading, denoising, `meddenoise models`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from meddenoise.cli.main import app
from meddenoise.metrics import psnr
from meddenoise.pretrained import (
    PRETRAINED_DIR,
    PretrainedModelError,
    get_card,
    list_pretrained,
    load_pretrained,
    pretrained_for_modality,
    sha256_file,
)

SHIPPED = ("ct", "general", "mri", "xray")


def test_every_shipped_model_has_weights_json_and_markdown_cards() -> None:
    assert tuple(card.name for card in list_pretrained()) == SHIPPED
    for name in SHIPPED:
        for suffix in (".safetensors", ".json", ".md"):
            assert (PRETRAINED_DIR / f"{name}{suffix}").is_file(), (name, suffix)
        # a wheel-friendly size: the four shipped ffdunets are 9.2 MB each (2,300,448 float32 parameters)
        assert (PRETRAINED_DIR / f"{name}.safetensors").stat().st_size < 12_000_000


@pytest.mark.parametrize("name", SHIPPED)
def test_weights_match_the_sha256_of_their_card(name: str) -> None:
    card = get_card(name)
    assert sha256_file(card.weights_path) == card.sha256
    assert card.sha256 in (PRETRAINED_DIR / f"{name}.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", SHIPPED)
def test_cards_say_data_licences_noise_command_seed_quality_and_speed(name: str) -> None:
    raw = json.loads((PRETRAINED_DIR / f"{name}.json").read_text(encoding="utf-8"))
    card = get_card(name)
    assert card.training_data and all(
        item.get("licence") and item.get("credit") for item in card.training_data
    )
    banned = ("mias", "dental", "set12", "train400", "mnist")
    assert not any(b in json.dumps(card.training_data).lower() for b in banned)
    assert card.noise and "scripts/train_pretrained.py" in card.command and isinstance(card.seed, int)
    for method in ("model", "nlmeans", "noisy"):
        assert 0 < card.quality[method]["ssim"] <= 1 and card.quality[method]["psnr"] > 10
    # measured by the benchmark at clinical levels, clean input included, BM3D told the true std beside it
    levels = card.quality["per_sigma"]
    assert "0" in levels and len(levels) >= 3 and "bm3d" in levels["0"] and "model" in levels["0"]
    assert "told the true std" in card.quality["noise"] or "true std" in card.quality["noise"]
    assert card.ms_per_512 is not None and card.ms_per_512 > 0
    assert raw["held_apart"] and card.parameters > 0
    # scored on whole held-apart images, as users denoise them: centre crops flattered the models
    assert raw["quality"]["crop"] == 0 and "crop" not in raw["quality"]["held_apart"]


@pytest.mark.parametrize("name", SHIPPED)
def test_each_model_loads_and_denoises(name: str, rng: np.random.Generator) -> None:
    yy, xx = np.mgrid[0:96, 0:96] / 96.0
    clean = (0.4 + 0.3 * (xx > 0.5) + 0.1 * np.sin(6 * yy)).astype(np.float32)
    noisy = np.clip(clean + 0.08 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)
    denoiser = load_pretrained(name)
    out = denoiser(noisy)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert psnr(out, clean, data_range=1.0) > psnr(noisy, clean, data_range=1.0) + 3


def test_modalities_map_to_models_and_unknown_names_fail() -> None:
    assert pretrained_for_modality("CT") == "ct"
    assert pretrained_for_modality("MR") == "mri"
    assert pretrained_for_modality("CR") == "xray"
    assert pretrained_for_modality("US") == "general"
    assert pretrained_for_modality(None) == "general"
    with pytest.raises(PretrainedModelError, match="shipped models"):
        get_card("nosuchmodel")


@pytest.mark.integration
def test_models_command_lists_them() -> None:
    result = CliRunner().invoke(app, ["models", "--verbose"])
    assert result.exit_code == 0, result.output
    for name in SHIPPED:  # each model, with its file's size and storage (int8 / int4) as its card records it
        assert name in result.output
        card = get_card(name)
        size = (PRETRAINED_DIR / card.weights).stat().st_size
        storage = card.raw["weight_storage"]
        assert f"{card.weights}, {size:,} bytes, stored as {storage} (run in float32)" in result.output
    assert "TCGA-LUAD" in result.output and "MNI152" in result.output and "sha256" in result.output
    ct = get_card("ct")
    assert (
        f"edge restore: {ct.edge_restore} by default, on correlated (a scanner's) noise only"
        " (--edge-restore 0 turns it off)" in result.output
    )
    assert "edge restore: none by default" in result.output  # the other models
    assert result.output.count("strength > 1: runs again on its own output (2 = two passes)") == 1  # ct
    assert result.output.count("strength > 1: told strength x the noise level") == len(SHIPPED) - 1


def test_the_ct_model_denoises_noisy_air_under_its_window(rng: np.random.Generator) -> None:
    """Air (-1000 HU) with 50 HU of noise: a third of it lies under the -1024 HU edge of the model's window.

    Those pixels are noise around air, not content: they must come back denoised like the rest of the air,
    not as they were (which left a third of the noise in every air region).
    """
    from meddenoise import denoise

    air = (-1000.0 + 50.0 * rng.standard_normal((128, 128))).astype(np.float32)
    out = np.asarray(denoise(air, model="ct", modality="CT", noise_level=50.0))
    under = air < -1024
    assert 0.25 < under.mean() < 0.4
    assert np.abs(out[under] + 1000).mean() < 0.25 * np.abs(air[under] + 1000).mean()
    assert abs(float(out.mean()) + 1000) < 5  # and air stays air


@pytest.mark.data
def test_the_ct_held_apart_slices_are_linked_for_the_benchmark(shared_data: Path, tmp_path: Path) -> None:
    """`--write-held-apart DIR` gives the docs' HELD_OUT_CT: one slice of each patient the card names."""
    import os
    import subprocess
    import sys

    script = PRETRAINED_DIR.parents[2] / "scripts" / "train_pretrained.py"
    out = tmp_path / "held"
    command = [sys.executable, str(script), "--write-held-apart", str(out)]
    env = {**os.environ, "MEDDENOISE_DATA": str(shared_data)}
    subprocess.run(command, check=True, capture_output=True, env=env)
    links = sorted(out.iterdir())
    assert len(links) == 6 and all(link.is_symlink() for link in links)
    assert {link.resolve().parent for link in links} == {(shared_data / "chest-ct-dicom").resolve()}
    patients = {str(pydicom.dcmread(link, stop_before_pixels=True).PatientID) for link in links}
    held_apart = json.loads((PRETRAINED_DIR / "ct.json").read_text(encoding="utf-8"))["held_apart"]
    assert len(patients) == 6 and all(patient in held_apart for patient in patients)
    again = subprocess.run(command, capture_output=True, text=True, env=env)
    assert again.returncode != 0 and "already exists" in again.stderr  # nothing is overwritten


@pytest.mark.data
def test_the_ct_training_slices_are_linked_never_a_held_apart_patient(
    shared_data: Path, tmp_path: Path
) -> None:
    """`--write-training-slices DIR` gives the docs' TRAIN_CT, the first slice of each training patient;
    with `--all-series` every training slice; neither holds a held-apart patient."""
    import os
    import subprocess
    import sys

    script = PRETRAINED_DIR.parents[2] / "scripts" / "train_pretrained.py"
    env = {**os.environ, "MEDDENOISE_DATA": str(shared_data)}
    held_apart = json.loads((PRETRAINED_DIR / "ct.json").read_text(encoding="utf-8"))["held_apart"]
    found = {}
    for name, extra in (("first", []), ("all", ["--all-series"])):
        out = tmp_path / name
        subprocess.run(
            [sys.executable, str(script), "--write-training-slices", str(out), *extra],
            check=True,
            capture_output=True,
            env=env,
        )
        links = sorted(out.iterdir())
        assert all(link.is_symlink() for link in links)
        patients = [str(pydicom.dcmread(link, stop_before_pixels=True).PatientID) for link in links]
        assert not any(patient in held_apart for patient in patients)
        found[name] = (links, patients)
    first, every = found["first"], found["all"]
    assert len(first[1]) == len(set(first[1])) == len(set(every[1]))  # one per patient; the same patients
    assert len(every[0]) > len(first[0])  # the patients' other series too
    assert {link.name for link in first[0]} <= {link.name for link in every[0]}


def test_the_ct_model_denoises_white_noise_at_lung_densities(rng: np.random.Generator) -> None:
    """Flat fields 2.5-4.5 noise stds above the window floor (-974 to -799 HU; lung at clinical noise): the
    ct model must remove their white noise like it does at -1000 or 40 HU (`general` and BM3D keep under
    10 % of it), at every point of the band (`scripts/flat_field_sweep.py` prints it)."""
    from meddenoise import denoise

    kept = []
    for sigma in (20.0, 50.0):
        for k in (2.5, 3.0, 3.5, 4.0, 4.5):
            field = (-1024.0 + k * sigma + sigma * rng.standard_normal((96, 96))).astype(np.float32)
            out = np.asarray(denoise(field, model="ct", modality="CT", noise_level=sigma))
            kept.append(float(out[16:-16, 16:-16].std()) / sigma)
    assert max(kept) < 0.2, [round(k, 2) for k in kept]


@pytest.mark.parametrize(
    ("choice", "level"), [({"model": "mri"}, 50.0), ({"model": None, "method": "median"}, "auto")]
)
def test_the_noise_tails_past_percentiles_fitted_to_the_noisy_image_are_denoised(
    rng: np.random.Generator, choice: dict[str, str | None], level: float | str
) -> None:
    """MR-like: a plateau in a zero background with 5 % noise, mapped by percentiles 0.5-99.5 of the noisy
    image (the ``mri`` card's, and classical filters' for non-CT). The 1 % of pixels past them are the
    noise's own tails, the noisiest pixels of the image: they must come back denoised, not as they were."""
    from meddenoise import denoise

    clean = np.zeros((128, 128), dtype=np.float32)
    clean[32:96, 32:96] = 1000.0
    noisy = (clean + 50.0 * rng.standard_normal(clean.shape)).astype(np.float32)
    low, high = np.percentile(noisy, [0.5, 99.5])
    tails = (noisy < low) | (noisy > high)
    assert 0.005 < tails.mean() < 0.02
    out = np.asarray(denoise(noisy, modality="MR", noise_level=level, **choice))
    assert np.abs(out - clean)[tails].mean() < 0.4 * np.abs(noisy - clean)[tails].mean()
    assert np.abs(out - clean)[~tails].mean() < 0.6 * np.abs(noisy - clean)[~tails].mean()


def test_the_mri_card_maps_an_mr_slice_by_its_content_so_its_zero_background_is_denoised_flat() -> None:
    """Told 5 % noise on an MNI152 slice of the held-apart slab: with the card's mapping (percentiles of a
    1.5-px smoothed copy) the zero background sits at 0 as in training, and the model flattens it; with
    the noisy image's own percentiles it sat ~2.4 noise stds higher and kept a quarter of the noise."""
    from meddenoise import denoise
    from meddenoise.data import IntensitySpec, mni152_path
    from meddenoise.io import read_image

    path = mni152_path()
    if path is None:
        pytest.skip("nilearn's MNI152 template is absent: pip install 'meddenoise[mri]'")
    assert get_card("mri").intensity.smooth == 1.5
    clean = read_image(path, slice_axis=2).pixels[77].astype(np.float32)
    sigma = 0.05 * float(clean.max() - clean.min())
    noisy = (clean + sigma * np.random.default_rng(0).standard_normal(clean.shape)).astype(np.float32)
    background = clean == 0
    assert background.mean() > 0.4

    def residual(intensity: IntensitySpec | None) -> tuple[float, float]:
        error = (
            np.asarray(denoise(noisy, model="mri", modality="MR", noise_level=sigma, intensity=intensity))
            - clean
        )
        return float(np.sqrt(np.mean(error[background] ** 2))), float(
            np.sqrt(np.mean(error[~background] ** 2))
        )

    card_bg, card_brain = residual(None)
    plain_bg, plain_brain = residual(IntensitySpec("percentile"))
    assert card_bg < 0.2 * sigma and card_bg < 0.75 * plain_bg
    assert card_brain < plain_brain  # and the brain is not worse for it


def test_retiming_the_cards_rewrites_only_their_speed(tmp_path: Path) -> None:
    """`--retime-cards` times the shipped weights again and leaves weights and measured quality alone."""
    import shutil
    import subprocess
    import sys

    for suffix in (".json", ".md", ".safetensors"):
        shutil.copy(PRETRAINED_DIR / f"mri{suffix}", tmp_path / f"mri{suffix}")
    old = json.loads((tmp_path / "mri.json").read_text(encoding="utf-8"))
    old["ms_per_512"] = 123456.7  # a timing no run gives: the new one must replace it
    (tmp_path / "mri.json").write_text(json.dumps(old), encoding="utf-8")
    script = PRETRAINED_DIR.parents[2] / "scripts" / "train_pretrained.py"
    command = [sys.executable, str(script), "--retime-cards", "--models", "mri", "--out", str(tmp_path)]
    done = subprocess.run([*command, "--threads", "1"], check=True, capture_output=True, text=True)
    assert "123456.7 ->" in done.stdout
    new = json.loads((tmp_path / "mri.json").read_text(encoding="utf-8"))
    assert 0 < new["ms_per_512"] < 123456.7 and new["speed"]["threads"] == 1
    assert {k: v for k, v in new.items() if k not in ("ms_per_512", "speed")} == {
        k: v for k, v in old.items() if k not in ("ms_per_512", "speed")
    }
    assert f"{new['ms_per_512']} ms per 512x512 slice" in (tmp_path / "mri.md").read_text(encoding="utf-8")
    assert (tmp_path / "mri.safetensors").read_bytes() == (PRETRAINED_DIR / "mri.safetensors").read_bytes()


def _train_pretrained_script(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``scripts/train_pretrained.py`` loaded as a module, registered for the test only (its dataclasses
    look their module up)."""
    import importlib.util
    import sys

    script = PRETRAINED_DIR.parents[2] / "scripts" / "train_pretrained.py"
    spec = importlib.util.spec_from_file_location("train_pretrained_under_test", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_freeze_int4_names_the_int4_tensors_of_the_shipped_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--freeze-int4` freezes exactly the tensors the shipped file stores in int4, and only from them."""
    import subprocess
    import sys

    from meddenoise.models.weights import tensor_storage

    module = _train_pretrained_script(monkeypatch)
    script = Path(module.__file__)
    names = module.shipped_int4_tensors("general")
    stored = tensor_storage(PRETRAINED_DIR / get_card("general").weights)
    assert names and set(names) == {key for key, kind in stored.items() if kind == "int4"}
    assert set(names) < set(load_pretrained("general").model.state_dict())  # type: ignore[attr-defined]
    with pytest.raises(SystemExit, match="the shipped mri weights hold no int4 tensor"):
        module.shipped_int4_tensors("mri")
    refused = subprocess.run(
        [sys.executable, str(script), "--models", "xray", "--freeze-int4", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "--freeze-int4 keeps the shipped int4 tensors" in refused.stderr


def test_cards_only_keeps_quantised_weights_as_they_are_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--cards-only` without `--weights-storage` stores float32 weights in int8 and never quantises int8 or
    int4 weights again (an int4 file rewritten in int8 would gain rounding and size)."""
    import torch

    from meddenoise.models.weights import save_weights, weights_storage

    module = _train_pretrained_script(monkeypatch)
    card = json.loads((PRETRAINED_DIR / "mri.json").read_text(encoding="utf-8"))
    state = {"weight": torch.linspace(-1, 1, 2 * 131_072).reshape(2, -1)}  # large enough for int4 and int8
    for storage, default in (("float32", "int8"), ("int8", "int8"), ("int4", "int4")):
        folder = tmp_path / storage
        folder.mkdir()
        (folder / "mri.json").write_text(json.dumps({**card, "weights": "w.safetensors"}), encoding="utf-8")
        save_weights(state, folder / "w.safetensors", storage=storage)
        assert weights_storage(folder / "w.safetensors") == storage
        before = (folder / "w.safetensors").read_bytes()
        module.store_weights_as("mri", folder, None)
        assert weights_storage(folder / "w.safetensors") == default
        assert ((folder / "w.safetensors").read_bytes() == before) == (storage != "float32")
        if storage == "float32":  # rewritten: the card says so
            assert json.loads((folder / "mri.json").read_text(encoding="utf-8"))["weight_storage"] == "int8"


def test_more_strength_removes_more_noise_from_a_routine_ct_slice() -> None:
    """``ct`` past ``--strength 1`` runs again on its output (its card says ``repeat``): the flat-tissue noise
    of a real routine-dose slice falls at every step. Told a higher level instead it removed *less* (on
    pydicom's CT_small: 55 % of the noise at 1, 28 / 24 / 20 % at 1.5 / 2 / 3)."""
    from pydicom.data import get_testdata_file

    from meddenoise import denoise
    from meddenoise.io import read_image
    from meddenoise.metrics.ct import routine_dose_faithfulness

    assert get_card("ct").strength_above_one == "repeat"
    assert {get_card(name).strength_above_one for name in SHIPPED if name != "ct"} == {"level"}
    path = get_testdata_file("CT_small.dcm")
    scan = np.asarray(read_image(path).pixels, np.float64)
    removed = []
    for strength in (1.0, 1.5, 2.0, 3.0):
        out = np.asarray(denoise(path, model="ct", strength=strength).pixels, np.float64)
        measure = routine_dose_faithfulness(out, scan)
        removed.append(measure.noise_reduction)
        assert abs(measure.shift_soft) < 1 and measure.gradient_ratio > 0.97  # still faithful
    assert removed == sorted(removed) and removed[-1] > removed[0] + 0.08, removed


def test_the_cards_measure_ct_as_users_get_it_repeating_on_a_scanners_noise() -> None:
    """The loader and the card script's choice both make ct run again past strength 1, so its default
    ``--texture auto`` gives a scanner's noise one more pass there as in ``denoise`` (the cards measured the
    one-pass model before)."""
    import sys

    from meddenoise.denoiser import repeats_above_one
    from meddenoise.pretrained import load_pretrained

    assert repeats_above_one(load_pretrained("ct")) and not repeats_above_one(load_pretrained("mri"))
    scripts = PRETRAINED_DIR.parents[2] / "scripts"
    sys.path.insert(0, str(scripts))
    try:
        import train_pretrained
    finally:
        sys.path.remove(str(scripts))
    _, choice = train_pretrained._shipped_choice("ct", PRETRAINED_DIR)
    assert repeats_above_one(choice.denoiser) and choice.denoiser.scanner_between == (0.5, 0.7)


def test_a_time_budgeted_runs_card_command_names_each_patch_count_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--time-budget` is replaced by the patch counts it chose; counts given as well are dropped, not
    repeated (a card once read `--patches 40000 --patches 40000`)."""
    module = _train_pretrained_script(monkeypatch)
    argv = ["--models", "general", "--init-shipped", "--patches", "40000", "--time-budget", "3600"]
    argv += ["--max-patches", "400000", "--finetune-patches=500", "--runs-dir", "/tmp/runs"]
    args = module.argparse.Namespace(
        time_budget=3600.0, patches=40000, finetune_patches=161689, init_general=None
    )
    resolved = module._resolved_argv(argv, args)
    assert resolved == [
        "--models",
        "general",
        "--init-shipped",
        "--patches",
        "40000",
        "--finetune-patches",
        "161689",
    ]


def test_the_patches_a_run_may_hold_follow_the_memory_available(monkeypatch: pytest.MonkeyPatch) -> None:
    """A time-budgeted run takes no more patches than fit in its share of the memory (a CT run that asked
    212,536 patches beside another run was killed by the system without a word): twice the memory holds twice
    the patches, a CT texture halves them, and the available memory is read from this machine."""
    module = _train_pretrained_script(monkeypatch)
    gib = 2**30
    plain = module.patches_that_fit(16 * gib, patch=64, with_textures=False)
    assert module.patches_that_fit(32 * gib, patch=64, with_textures=False) == pytest.approx(2 * plain, abs=1)
    assert module.patches_that_fit(16 * gib, patch=64, with_textures=True) == pytest.approx(plain / 2, abs=1)
    # the 212,536 CT patches of the run that was killed are more than fit in the 16 GiB then available
    assert module.patches_that_fit(16 * gib, patch=64, with_textures=True) < 212_536
    available = module.available_memory()
    assert available is None or available > 0


def test_xray_nih_adds_the_chest_radiographs_to_xray_alone(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--xray-nih`: `xray` also trains on chest-xray-64's train and valid images, never its test ones, and
    the general model's data stay as they were."""
    module = _train_pretrained_script(monkeypatch)
    folder = shared_data / "chest-xray-64"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    plain = module.xray_data()
    monkeypatch.setattr(module, "XRAY_NIH", True)
    data = module.xray_data()
    seen = sorted(p.name for p in folder.glob("*.png") if not p.name.startswith("test_"))
    assert len(seen) < len(list(folder.glob("*.png")))  # the test split exists and is left out
    assert data.own_images == len(seen) == len(data.train) - len(plain.train) and data.own_sources == 1
    assert all(
        img.shape == (64, 64) and img.min() >= 0 and img.max() <= 1 for img in data.train[-len(seen) :]
    )
    assert "NIH" in data.sources[-1]["name"] and "acknowledgement" in data.sources[-1]["licence"]
    assert [b.name for b in data.bench] == [b.name for b in plain.bench]  # the card scores the same images
    general = module.general_data({"xray": data})
    assert len(general.train) == len(plain.train) and general.sources == plain.sources


def test_synthetic_fraction_replaces_that_share_of_patches_with_dead_leaves_at_random_places(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--synthetic-fraction F`: F of the training patches (rounded) come from dead-leaves images whose grey
    levels are the real images' own, the rest stay as drawn (aligned CT textures are not its business: they
    stay the real patches'); 0 keeps every patch."""
    module = _train_pretrained_script(monkeypatch)
    monkeypatch.setattr(module, "PATCH", 16)
    levels = (0.25, 0.5, 0.75)
    images = [np.full((40, 40), v, dtype=np.float32) for v in levels]  # flat: a replaced patch shows
    real = module.patches(images, 40, np.random.default_rng(0))
    kept = module.with_synthetic_patches(real, images, 0.0, np.random.default_rng(1))
    assert kept[0] is real and kept[1] == 0
    clean, count = module.with_synthetic_patches(real, images, 0.3, np.random.default_rng(1))
    changed = np.any(clean != real, axis=(1, 2))
    assert count == 12 and 9 <= int(changed.sum()) <= 12  # a dead-leaves patch can be one flat disc
    assert not np.array_equal(np.flatnonzero(changed), np.arange(28, 40))  # scattered, not the last ones
    assert clean.min() >= 0.25 and clean.max() <= 0.75  # the real images' grey levels bound them
    assert np.all(np.isin(real, levels))  # the input patches are left as they were


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_card_says_the_defaults_the_training_script_gives_that_model(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cards' edge restoration, noise texture and strength rule are what `scripts/train_pretrained.py`
    writes for the model (its USER_DEFAULTS): a change there without new cards fails here."""
    module = _train_pretrained_script(monkeypatch)
    from meddenoise.pretrained.cards import read_model_card

    card = read_model_card(PRETRAINED_DIR / f"{name}.json")
    assert module.UserDefaults.of_card(card) == module.user_defaults(name)
