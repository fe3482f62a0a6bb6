"""The reproductions registry, the CLI built from it, and derive() (re-validating config changes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from meddenoise.cli.main import app
from meddenoise.experiments.config import ReproductionConfig, derive
from meddenoise.experiments.published import PublishedTable
from meddenoise.experiments.registry import (
    Reproduction,
    ReproductionError,
    get_reproduction,
    published_tables,
    register,
    reproduction_names,
    unregister,
)
from meddenoise.experiments.reproduce import run_experiment
from meddenoise.experiments.runner import ExperimentRecord, ResultTable


class ToyConfig(ReproductionConfig):
    images: int = 3


class Toy(Reproduction[ToyConfig]):
    name = "toy-paper"
    title = "A toy reproduction"
    summary = "a toy registered by a test"
    config_class = ToyConfig
    published: ClassVar[Mapping[str, PublishedTable]] = {
        "t": PublishedTable(
            key="toy-paper/t",
            source="toy (shared/seeds/none)",
            metric="ssim",
            columns=("A",),
            rows={"X": (0.5,)},
        )
    }

    def quick_changes(self) -> dict[str, object]:
        return {"images": 1}

    def run(self, config: ToyConfig, *, log: Callable[[str], None] = print) -> ExperimentRecord:
        record = ExperimentRecord.start(self.name, self.title, config, log=log)
        table = ResultTable("toy-paper/t", "Toy table", "ssim", ["A"])
        table.add_published(self.published["t"])
        table.add_row("X", "measured", {"A": float(config.images)})
        record.add_table(table)
        return record


def _flat(text: str) -> str:
    """CLI output without whitespace and box drawing (rich wraps help and errors at the terminal width)."""
    return "".join(ch for ch in text if not ch.isspace() and ch not in "│╭╮╰╯─")


@pytest.fixture
def toy() -> Iterator[Toy]:
    register(Toy)
    yield get_reproduction("toy-paper")  # type: ignore[misc]
    unregister("toy-paper")


def test_builtin_reproductions_are_registered_with_their_published_tables() -> None:
    assert {"gondara2016", "modality-study", "dense-vs-conv"} <= set(reproduction_names())
    keys = set(published_tables())
    assert {"gondara2016/table2", "modality-study/metrics", "dense-vs-conv/params"} <= keys
    for name in reproduction_names():
        rep = get_reproduction(name)
        assert issubclass(rep.config_class, ReproductionConfig) and rep.figures and rep.published
        assert all(t.key.startswith(f"{name}/") for t in rep.published.values())


def test_cli_choices_are_the_registry_names() -> None:
    result = CliRunner().invoke(app, ["reproduce", "--help"])
    assert result.exit_code == 0
    assert "|".join(reproduction_names()) in _flat(result.output)


def test_an_unknown_name_lists_the_choices(tmp_path: Path) -> None:
    with pytest.raises(
        ReproductionError, match="choose from dense-vs-conv, dncnn2017, gondara2016, modality-study"
    ):
        get_reproduction("gondara2017")
    result = CliRunner().invoke(
        app, ["reproduce", "gondara2017", "--data-dir", str(tmp_path)], terminal_width=300
    )
    assert result.exit_code != 0
    text = _flat(result.output)
    assert "unknownreproduction'gondara2017'" in text
    assert "choosefrom" + ",".join(reproduction_names()) in text


def test_a_registered_toy_appears_in_the_cli_and_runs(toy: Toy, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["reproduce", "--help"])
    assert "toy-paper" in _flat(result.output) and "atoyregisteredbyatest" in _flat(result.output)
    assert "toy-paper/t" in published_tables()
    out = tmp_path / "toy"
    result = CliRunner().invoke(
        app,
        [
            "reproduce",
            "toy-paper",
            "--data-dir",
            str(tmp_path),
            "--quick",
            "--out",
            str(out),
            "--set",
            "images=2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "results.json").is_file() and (out / "index.html").is_file()
    assert '"images": 2' in (out / "results.json").read_text()


def test_a_second_reproduction_with_a_taken_name_is_refused(toy: Toy) -> None:
    class Other(Toy):
        pass

    with pytest.raises(ReproductionError, match="already registered"):
        register(Other)


def test_options_a_reproduction_lacks_name_the_ones_that_have_them(toy: Toy, tmp_path: Path) -> None:
    with pytest.raises(ReproductionError, match=r"--size applies to modality-study only \(toy-paper has no"):
        run_experiment("toy-paper", data_dir=tmp_path, out_dir=tmp_path / "o", size=64, log=lambda _m: None)
    with pytest.raises(ReproductionError, match=r"modality-study only \(gondara2016 fixes it"):
        run_experiment("gondara2016", data_dir=tmp_path, out_dir=tmp_path / "o", size=64, log=lambda _m: None)
    with pytest.raises(ReproductionError, match="images"):
        run_experiment(
            "toy-paper", data_dir=tmp_path, out_dir=tmp_path / "o", images="many", log=lambda _m: None
        )


def test_quick_config_and_epochs_override_of_gondara2016() -> None:
    rep = get_reproduction("gondara2016")
    quick = rep.make_config(quick=True, seed=4)
    assert quick.quick and quick.seed == 4 and quick.model_dump()["epochs"] == 2
    both = rep.configure(quick, {"epochs": 7})
    assert both.model_dump()["table4_epochs"] == 7
    only = rep.configure(quick, {"epochs": 7, "table4_epochs": 3})
    assert only.model_dump()["table4_epochs"] == 3


def test_derive_revalidates_where_model_copy_does_not() -> None:
    from meddenoise.training import TrainConfig

    base = TrainConfig(model="dncnn", noise="gaussian(sigma=0.1)", epochs=2)
    changed = derive(base, epochs=5, lr=1e-4)
    assert isinstance(changed, TrainConfig) and changed.epochs == 5 and changed.optim.lr == 1e-4
    assert base.epochs == 2  # the original is untouched
    with pytest.raises(ValidationError):
        derive(base, epochs=-1)
    with pytest.raises(ValidationError):
        derive(base, no_such_field=1)
    with pytest.raises(ValidationError):
        derive(ReproductionConfig(), threads=0)
    assert base.model_copy(update={"epochs": -1}).epochs == -1  # what derive() guards against
