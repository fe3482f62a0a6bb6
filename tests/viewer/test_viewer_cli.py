"""``meddenoise view``: pairs the trees, prints the URL, opens the browser unless told not to, stops on Ctrl-C."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner
from viewer_data import make_png_pair

from meddenoise.cli.main import app

pytestmark = pytest.mark.integration

runner = CliRunner()


@pytest.fixture
def interrupted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The server stops as on Ctrl-C as soon as it starts; records what the browser was asked to open."""
    import http.server
    import webbrowser

    opened: list[str] = []

    def ctrl_c(self: object, poll_interval: float = 0.5) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(http.server.ThreadingHTTPServer, "serve_forever", ctrl_c)
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url))
    monkeypatch.setattr("threading.Timer", _Now)
    return opened


class _Now:
    """``threading.Timer`` that runs at once (the browser is opened before the interrupted server returns)."""

    def __init__(self, interval: float, function: Callable[..., object], args: Sequence[object] = ()) -> None:
        self.function, self.args = function, args

    def start(self) -> None:
        self.function(*self.args)


def test_view_prints_the_url_and_stops_on_ctrl_c(tmp_path: Path, interrupted: list[str]) -> None:
    orig, out = make_png_pair(tmp_path)
    result = runner.invoke(app, ["view", str(orig), str(out), "--no-browser"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:" in result.output and "1 pair(s)" in result.output
    assert "viewer stopped" in result.output
    assert interrupted == []


def test_view_opens_the_browser_by_default(tmp_path: Path, interrupted: list[str]) -> None:
    orig, out = make_png_pair(tmp_path)
    result = runner.invoke(app, ["view", str(orig), str(out)])
    assert result.exit_code == 0, result.output
    assert len(interrupted) == 1 and interrupted[0].startswith("http://127.0.0.1:")
    assert interrupted[0] in result.output


def test_view_reports_a_missing_tree_in_one_line(tmp_path: Path) -> None:
    orig, _ = make_png_pair(tmp_path)
    result = runner.invoke(app, ["view", str(orig), str(tmp_path / "nope"), "--no-browser"])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {tmp_path / 'nope'}: no such file or folder"


def test_view_reports_a_port_in_use(tmp_path: Path) -> None:
    import socket

    orig, out = make_png_pair(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["view", str(orig), str(out), "--no-browser", "--port", str(port)])
    assert result.exit_code == 1
    assert result.output.startswith("error:") and len(result.output.strip().splitlines()) == 1
    assert f"127.0.0.1:{port}: cannot serve there" in result.output


def test_denoise_view_serves_the_inputs_beside_the_outputs(tmp_path: Path, interrupted: list[str]) -> None:
    orig, _ = make_png_pair(tmp_path)
    out = tmp_path / "denoised-by-cli"
    result = runner.invoke(app, ["denoise", str(orig), "-o", str(out), "--method", "median", "-q", "--view"])
    assert result.exit_code == 0, result.output
    assert "file(s) denoised" in result.output
    assert "1 pair(s)" in result.output and "viewer stopped" in result.output
    assert len(interrupted) == 1 and interrupted[0] in result.output


def test_denoise_without_view_starts_no_server(tmp_path: Path, interrupted: list[str]) -> None:
    orig, _ = make_png_pair(tmp_path)
    result = runner.invoke(app, ["denoise", str(orig), "-o", str(tmp_path / "d"), "--method", "median", "-q"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:" not in result.output and interrupted == []
