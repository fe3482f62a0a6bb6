from __future__ import annotations

import pytest
from typer.testing import CliRunner

from meddenoise import __version__
from meddenoise.cli.main import app

pytestmark = pytest.mark.integration  # every test here drives the command line

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.stdout


def test_every_subcommand_has_help() -> None:
    import typer.main

    group = typer.main.get_command(app)
    names = sorted(group.commands)  # type: ignore[attr-defined]
    assert names, "no subcommands registered"
    for name in names:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, (name, result.stdout)
        assert "Usage" in result.stdout
