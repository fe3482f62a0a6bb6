"""The fuzz corpus of issue #14: bad files through ``info``, ``convert``, ``noise`` and one mixed ``denoise``
batch, and existing outputs through every writing command and the API.

Each run must hold: the exit status says failure, exactly one line per bad file names it with its
reason, no traceback, the good files of the batch are still written, no input changes, and no existing
output is replaced without ``--overwrite``. :func:`test_corpus_counts` prints the three counts of the
issue's closing note (``pytest tests/test_fuzz_corpus.py -q -s``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner, Result

import meddenoise
from fuzz_corpus import BadFile, make_bad_files, make_good_files, make_link_loop, snapshot
from meddenoise.cli.main import app
from meddenoise.io import OutputExistsError, output_name, read_image

pytestmark = pytest.mark.integration  # every test here drives the command line
# run_corpus reads colour.png directly (outside the CLI) to compare shapes
_QUIET_COLOUR = pytest.mark.filterwarnings("ignore::meddenoise.io.ColourConversionWarning")

runner = CliRunner()


@dataclass
class Tally:
    """What went wrong over the corpus; every list must stay empty."""

    tracebacks: list[str] = field(default_factory=list)
    silent_garbage: list[str] = field(default_factory=list)
    clobbered: list[str] = field(default_factory=list)
    runs: int = 0

    def invoke(self, args: Sequence[str]) -> Result:
        result = runner.invoke(app, list(args))
        self.runs += 1
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        if crashed or "Traceback" in result.output:
            self.tracebacks.append(f"{' '.join(args)}: {result.exception!r}")
        return result

    def refused(self, args: Sequence[str], bad: BadFile, *, output: Path | None = None) -> None:
        """``args`` must fail on ``bad`` with one line naming it and its reason, writing nothing."""
        result = self.invoke(args)
        lines = [line for line in result.output.splitlines() if f"{bad.path}:" in line]
        if result.exit_code not in (1, 2) or len(lines) != 1 or bad.reason not in lines[0]:
            self.silent_garbage.append(f"{' '.join(args)} → exit {result.exit_code}: {result.output!r}")
        if output is not None and (output.exists() or output.is_symlink()):
            self.silent_garbage.append(f"{' '.join(args)} wrote {output}")

    def unchanged(self, before: dict[str, bytes], folder: Path, what: str) -> None:
        after = snapshot(folder)
        self.clobbered += [f"{what}: {name}" for name in before if after.get(name) != before[name]]


@dataclass
class Corpus:
    inputs: Path
    good: list[Path]
    bad: list[BadFile]


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    rng = np.random.default_rng(14)
    inputs = tmp_path / "in"
    good = make_good_files(inputs, rng)
    colour = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    Image.fromarray(colour).save(inputs / "colour.png")  # good, with a warning
    good.append(inputs / "colour.png")
    bad = make_bad_files(inputs, rng)
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(inputs / "one pixel.png")
    bad.append(BadFile(inputs / "one pixel.png", "too small to denoise"))
    loop = make_link_loop(inputs)
    bad += [BadFile(loop, "loop of links"), BadFile(loop.with_name("loop2.png"), "loop of links")]
    return Corpus(inputs, good, bad)


def _readable_by_info(bad: BadFile) -> bool:
    return "too small to denoise" in bad.reason  # a 1x1 image is described; only denoising refuses it


def run_corpus(corpus: Corpus, out: Path) -> Tally:
    """Every bad file through info and convert (``noise`` reads through the same ``read_image``); the folder through one denoise batch; then the
    overwrite policy of every writing command over the batch's outputs."""
    tally = Tally()
    before = snapshot(corpus.inputs)
    for bad in corpus.bad:
        if not _readable_by_info(bad):
            tally.refused(["info", str(bad.path)], bad)
            target = out / "converted" / f"{bad.path.stem}.tif"
            tally.refused(["convert", str(bad.path), str(target)], bad, output=target)

    batch = out / "denoised"
    result = tally.invoke(["denoise", str(corpus.inputs), "-o", str(batch), "--method", "median", "-q"])
    if result.exit_code != 1:
        tally.silent_garbage.append(f"mixed batch exit {result.exit_code}: {result.output!r}")
    for bad in corpus.bad:
        lines = [line for line in result.output.splitlines() if f"{bad.path}:" in line]
        if len(lines) != 1 or not lines[0].startswith("FAILED") or bad.reason not in lines[0]:
            tally.silent_garbage.append(f"batch line for {bad.path.name}: {lines}")
        written = batch / output_name(bad.path)
        if written.exists():
            tally.silent_garbage.append(f"batch wrote {written} for a bad file")
    for good in corpus.good:
        written = batch / output_name(good)
        if not written.is_file() or read_image(written).shape != read_image(good).shape:
            tally.silent_garbage.append(f"good file {good.name} not written")
    tally.unchanged(before, corpus.inputs, "input")

    # existing outputs: refused by default, kept by --skip-existing, replaced only by --overwrite
    outputs = snapshot(batch)
    again = tally.invoke(["denoise", str(corpus.inputs), "-o", str(batch), "--method", "median", "-q"])
    if again.exit_code != 2 or "pass --overwrite" not in again.output:
        tally.clobbered.append(f"second batch without --overwrite: exit {again.exit_code}")
    skip = tally.invoke(
        ["denoise", str(corpus.inputs), "-o", str(batch), "--method", "gaussian", "-q", "--skip-existing"]
    )
    if f"0 file(s) denoised, {len(corpus.bad)} failed, {len(corpus.good)} skipped" not in skip.output:
        tally.clobbered.append(f"--skip-existing: {skip.output!r}")
    tally.unchanged(outputs, batch, "batch output")
    good = corpus.good[0]
    target = batch / output_name(good)
    if not target.is_file():  # already counted above as a good file not written
        return tally
    kept = target.read_bytes()
    for args in (
        ["convert", str(good), str(target)],
        ["noise", str(good), str(target)],
        ["denoise", str(good), "-o", str(batch), "--method", "gaussian", "-q"],
    ):
        if tally.invoke(args).exit_code == 0:
            tally.clobbered.append(" ".join(args))
    try:
        meddenoise.denoise(good, method="gaussian", output=target)
        tally.clobbered.append("meddenoise.denoise(output=existing)")
    except OutputExistsError:
        pass
    if target.read_bytes() != kept:
        tally.clobbered.append(f"{target} replaced")
    tally.unchanged(before, corpus.inputs, "input")
    return tally


@_QUIET_COLOUR
def test_corpus_counts(corpus: Corpus, tmp_path: Path) -> None:
    tally = run_corpus(corpus, tmp_path / "out")
    counts = {k: len(getattr(tally, k)) for k in ("tracebacks", "silent_garbage", "clobbered")}
    print(
        f"\nfuzz corpus: {len(corpus.bad)} bad + {len(corpus.good)} good files, {tally.runs} runs: "
        + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items())
    )
    assert (tally.tracebacks, tally.silent_garbage, tally.clobbered) == ([], [], [])


@_QUIET_COLOUR
def test_a_broken_reader_is_caught_by_the_tally(
    corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the oracle of test_corpus_counts must see a reader that lets garbage through or crashes
    import meddenoise.io.raster as raster

    def crash(path: Path) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(raster, "_check_one_series", crash)
    few = Corpus(
        corpus.inputs,
        [g for g in corpus.good if g.suffix == ".tif"],
        [b for b in corpus.bad if b.path.suffix == ".tif"],
    )
    tally = run_corpus(few, tmp_path / "out")
    assert any("info" in t and "pages.tif" in t for t in tally.tracebacks)
    assert any("good16.tif not written" in t for t in tally.silent_garbage)


def test_overwrite_replaces_and_the_api_honours_overwrite(corpus: Corpus, tmp_path: Path) -> None:
    good = corpus.good[0]
    out = tmp_path / "out"
    assert (
        runner.invoke(app, ["denoise", str(good), "-o", str(out), "--method", "median", "-q"]).exit_code == 0
    )
    target = out / good.name
    first = target.read_bytes()
    again = runner.invoke(
        app, ["denoise", str(good), "-o", str(out), "--method", "gaussian", "-q", "--overwrite"]
    )
    assert again.exit_code == 0, again.output
    assert target.read_bytes() != first
    meddenoise.denoise(good, method="median", output=target, overwrite=True)
    assert target.read_bytes() == first  # the API replaced it with what the CLI's median wrote
    both = runner.invoke(app, ["denoise", str(good), "-o", str(out), "--overwrite", "--skip-existing"])
    assert both.exit_code == 2 and "exclude each other" in both.output


@pytest.mark.filterwarnings("always::meddenoise.io.ColourConversionWarning")
def test_warnings_are_one_clean_line_each(corpus: Corpus, tmp_path: Path) -> None:
    colour = corpus.inputs / "colour.png"
    result = runner.invoke(app, ["denoise", str(colour), "-o", str(tmp_path / "out"), "--method", "median"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "colour image converted" in line]
    assert len(lines) == 1 and lines[0].strip().endswith(
        f"warning: {colour}: colour image converted to grey (BT.601 luma)"
    )
    assert "Warning:" not in result.output and "warnings.warn" not in result.output


def test_stale_temp_files_of_a_killed_run_are_swept_and_nothing_else(corpus: Corpus, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".good.png.~meddenoise-k1ll3d00.tmp.png", out / ".scan.nii.gz.a1b2c3d4.tmp.nii.gz"]
    kept = [
        out / ".good.png.notes.tmp.png",
        out / ".my.png.abcdefgh.tmp.jpg",
        out / "user.png.12345678.tmp.png",
    ]
    for path in stale + kept:
        path.write_bytes(b"partial")
        os.utime(path, (0, 0))  # from a run long ago
    fresh = out / ".other.png.~meddenoise-inflight.tmp.png"
    fresh.write_bytes(b"being written by this run")
    result = runner.invoke(app, ["denoise", str(corpus.good[0]), "-o", str(out), "--method", "median", "-q"])
    assert result.exit_code == 0, result.output
    assert [p.exists() for p in stale] == [False, False]
    assert all(p.exists() for p in [*kept, fresh])
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".") and "~meddenoise" in p.name) == [
        fresh.name
    ]


def test_pickles_and_escaping_sidecars_are_one_line(corpus: Corpus, tmp_path: Path) -> None:
    pickle = tmp_path / "model.pt"
    pickle.write_bytes(b"\x80\x04not loaded")
    good = str(corpus.good[0])
    for args in (
        ["denoise", good, "-o", str(tmp_path / "a"), "--model", str(pickle)],
        ["denoise-with", str(pickle), good, "-o", str(tmp_path / "b.png")],
    ):
        result = runner.invoke(app, args)
        assert (
            result.exit_code == 2
            and result.exception is not None
            and isinstance(result.exception, SystemExit)
        )
        assert [line for line in result.output.splitlines() if str(pickle) in line] == [
            line for line in result.output.splitlines() if "never loaded" in line
        ]
        assert len(result.output.strip().splitlines()) == 1
    sidecar = tmp_path / "run" / "best.json"
    sidecar.parent.mkdir()
    sidecar.write_text(
        json.dumps(
            {
                "format": "meddenoise-checkpoint",
                "config": {},
                "weights_file": "../../etc/passwd",
                "weights_sha256": "",
            }
        )
    )
    result = runner.invoke(app, ["denoise-with", str(sidecar), good, "-o", str(tmp_path / "c.png")])
    assert result.exit_code == 2 and "is not a file name in the checkpoint's folder" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_denoise_with_into_an_unwritable_folder_is_one_line(corpus: Corpus, tmp_path: Path) -> None:
    import torch

    from meddenoise.models.registry import build_model
    from meddenoise.training import TrainConfig
    from meddenoise.training.checkpoint import save_checkpoint

    cfg = TrainConfig(model="gondara-dae", model_params={"filters": 4}, epochs=1)
    torch.manual_seed(0)
    model = build_model(cfg.model, **cfg.model_params)
    checkpoint = save_checkpoint(tmp_path / "run", "best", model=model, config=cfg, metadata={})
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    target = blocker / "out.png"
    result = runner.invoke(app, ["denoise-with", str(checkpoint), str(corpus.good[0]), "-o", str(target)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.output.strip().splitlines() == [
        f"error: {target}: cannot write: a file stands where the folder {blocker} would be"
    ]


def test_the_debris_of_a_sigkilled_write_is_removed_by_the_next_run(corpus: Corpus, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(meddenoise.__file__).parents[1])}
    killed = (
        "import os, signal, sys\n"
        "from meddenoise._utils import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'half a file')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    target = out / output_name(corpus.good[0])
    run = subprocess.run([sys.executable, "-c", killed, str(target)], env=env, check=False)
    assert run.returncode == -signal.SIGKILL
    [debris] = [p for p in out.iterdir() if "~meddenoise-" in p.name]
    assert debris.name.startswith(f".{target.name}.~meddenoise-") and not target.exists()
    again = subprocess.run(
        [sys.executable, "-m", "meddenoise.cli.main", "denoise", str(corpus.good[0]), "-o", str(out), "-q",
         "--method", "median"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.iterdir()) == [target.name]
