"""Help texts that list names (methods, metrics, noise models, objectives, models, losses, optimisers)
show the registries, read when the help is printed; building the command line reads none of them."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Literal

import pytest
from typer.testing import CliRunner

from meddenoise.cli.main import app

pytestmark = pytest.mark.integration  # drives the command line

runner = CliRunner()


def _flat(text: str) -> str:
    """CLI output without whitespace and box drawing (rich wraps help at the terminal width)."""
    return "".join(ch for ch in text if not ch.isspace() and ch not in "│╭╮╰╯─")


def _option_help(command: str, option: str) -> str:
    """The help of ``option`` as ``meddenoise COMMAND --help`` prints it, flattened."""
    result = runner.invoke(app, [command, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    text = _flat(result.output)
    # the option's row: its name, its short name if any, its type
    found = re.search(re.escape(option) + r"(-\w)?<", text)
    assert found, f"{command} --help shows no {option}"
    following = re.compile(r"--[\w-]+<").search(text, found.end())  # the next option's row
    return text[found.start() : following.start() if following else None]


#: Where each listed registry lives (module, attribute), read independently of the CLI.
REGISTRIES = {
    "classical": ("meddenoise.classical", "CLASSICAL_METHODS"),
    "metrics": ("meddenoise.metrics", "METRICS"),
    "noise_models": ("meddenoise.noise", "NOISE_MODELS"),
    "objectives": ("meddenoise.training.objectives", "OBJECTIVES"),
    "models": ("meddenoise.models", "MODEL_REGISTRY"),
    "losses": ("meddenoise.training.losses", "LOSS_FUNCTIONS"),
    "optimizers": ("meddenoise.training.config", "OPTIMIZERS"),
}


def _registry(key: str) -> list[str]:
    if key == "shipped":
        from meddenoise.pretrained import list_pretrained

        return [card.name for card in list_pretrained()]
    module, attribute = REGISTRIES[key]
    return list(getattr(importlib.import_module(module), attribute))


#: (command, option, registry) for every help text that lists a registry.
LISTED = [
    ("denoise", "--method", "classical"),
    ("denoise", "--model", "shipped"),
    ("evaluate", "--methods", "classical"),
    ("evaluate", "--methods", "shipped"),
    ("evaluate", "--metrics", "metrics"),
    ("evaluate", "--noise", "noise_models"),
    ("noise", "--spec", "noise_models"),
    ("train", "--noise", "noise_models"),
    ("train", "--mode", "objectives"),
    ("train", "--model", "models"),
    ("train", "--loss", "losses"),
    ("train", "--optimizer", "optimizers"),
]


@pytest.mark.parametrize(("command", "option", "registry"), LISTED)
def test_help_lists_the_registry(command: str, option: str, registry: str) -> None:
    names = _registry(registry)
    assert names, f"the {registry} registry is empty"
    assert ",".join(names) in _option_help(command, option)


def test_every_placeholder_is_checked_against_its_registry() -> None:
    from meddenoise.cli._help import NAME_LISTS

    assert {registry for _, _, registry in LISTED} == set(NAME_LISTS) == {*REGISTRIES, "shipped"}


@pytest.fixture
def toy_registrations(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A classical method, an objective and a model registered for the test only."""
    import meddenoise.classical
    from meddenoise.models import MODEL_REGISTRY, register_model
    from meddenoise.models.gondara import GondaraDAE
    from meddenoise.training.objectives import OBJECTIVES, ObjectiveConfig, register_objective

    monkeypatch.setattr(
        meddenoise.classical, "CLASSICAL_METHODS", (*meddenoise.classical.CLASSICAL_METHODS, "toy-filter")
    )

    class ToyConfig(ObjectiveConfig):
        kind: Literal["toy-objective"] = "toy-objective"

    register_objective(ToyConfig)
    register_model("toy-net")(GondaraDAE)
    try:
        yield
    finally:
        del OBJECTIVES["toy-objective"]
        del MODEL_REGISTRY["toy-net"]


def test_a_newly_registered_name_appears_in_the_help(toy_registrations: None) -> None:
    assert "toy-filter" in _option_help("denoise", "--method")
    assert "toy-filter" in _option_help("evaluate", "--methods")
    assert "toy-objective" in _option_help("train", "--mode")
    assert "toy-net" in _option_help("train", "--model")


def test_help_keeps_unknown_braces_and_fills_again_each_time() -> None:
    from meddenoise.cli._help import fill_help

    assert fill_help("{models} and {not_a_list}").endswith(" and {not_a_list}")
    # a second printing reads the registries again (the placeholders are not consumed)
    assert _option_help("train", "--mode") == _option_help("train", "--mode")


@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"]])
def test_building_the_cli_and_its_help_reads_no_registry(args: list[str]) -> None:
    """``meddenoise --help`` stays fast: no torch, no classical filters (skimage), no registry read."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from meddenoise.cli.main import app\n"
        f"assert CliRunner().invoke(app, {args!r}).exit_code == 0\n"
        "heavy = [m for m in ('torch', 'meddenoise.classical', 'meddenoise.training', 'meddenoise.models')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
