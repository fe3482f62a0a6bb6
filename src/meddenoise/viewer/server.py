"""The viewer's local HTTP server: the page, its scripts, and the slices in their own units.

Routes (all ``GET``; errors are JSON ``{"error": "..."}`` with status 404; a request whose ``Host`` is not
127.0.0.1 or localhost is refused with 403):

* ``/`` — the page; ``/static/<name>`` — its script and style (only the files shipped in
  ``meddenoise/viewer/static``; anything else, ``..`` included, is 404).
* ``/api/pairs`` — the pairs: name, side labels, notes about what was left out.
* ``/api/pair/<i>`` — one pair: slice count, per-side metadata, the window to open with, CT presets.
* ``/api/pair/<i>/slice/<k>?side=<s>`` — slice ``k`` of side ``s`` (``0``/``a`` = original, ``1``/``b``
  = first denoised, ...) as raw little-endian samples; headers ``X-Rows``, ``X-Columns`` and
  ``X-Dtype`` (``int16``, ``uint16`` or ``float32``).
* ``/api/pair/<i>/stats/<k>`` — per side: noise-level estimate; against the reference: PSNR and SSIM
  (data range: the clean slice's max − min); the auto window of the original's slice.
"""

from __future__ import annotations

import json
import re
import threading
import webbrowser
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from meddenoise.io import ImageReadError
from meddenoise.viewer.measure import (
    CT_PRESETS,
    auto_window,
    default_window,
    encode_slice,
    noise_level,
    reference_scores,
)
from meddenoise.viewer.series import Pair, pair_trees

__all__ = ["ViewerApp", "make_server", "running_server", "serve", "serve_pairs"]

_STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_LOCAL_HOSTS = ("127.0.0.1", "localhost")
_STATIC_NAME = re.compile(r"^[a-z0-9_-]+\.(?:html|js|css)$")
_ROUTES = (
    ("pairs", re.compile(r"^/api/pairs$")),
    ("pair", re.compile(r"^/api/pair/(\d+)$")),
    ("slice", re.compile(r"^/api/pair/(\d+)/slice/(\d+)$")),
    ("stats", re.compile(r"^/api/pair/(\d+)/stats/(\d+)$")),
)


class NotFound(LookupError):
    """A request for something the viewer does not have (answered with 404)."""


def static_file(name: str) -> bytes:
    """A file shipped in ``meddenoise/viewer/static`` (names of letters, digits, ``-``/``_`` and one suffix)."""
    if not _STATIC_NAME.match(name):
        raise NotFound(f"/static/{name}: no such file")
    item = resources.files("meddenoise.viewer") / "static" / name
    if not item.is_file():
        raise NotFound(f"/static/{name}: no such file")
    return item.read_bytes()


class ViewerApp:
    """What the server answers, independent of HTTP: pairs, their slices and the numbers about them."""

    def __init__(self, pairs: Sequence[Pair], *, notes: Sequence[str] = ()) -> None:
        self.pairs = list(pairs)
        self.notes = list(notes)

    # ------------------------------------------------------------------ lookups
    def pair(self, i: int) -> Pair:
        if not 0 <= i < len(self.pairs):
            raise NotFound(f"no pair {i} (there are {len(self.pairs)})")
        return self.pairs[i]

    def side(self, pair: Pair, side: str) -> int:
        """Side index from ``"0"``, ``"1"``, ... or ``"a"``, ``"b"``, ..."""
        n = len(pair.all_sides)
        if side.isdigit():
            index = int(side)
        elif len(side) == 1 and "a" <= side <= "z":
            index = ord(side) - ord("a")
        else:
            raise NotFound(f"side {side!r}: give a number 0..{n - 1} or a letter")
        if not 0 <= index < n:
            raise NotFound(f"no side {side!r} (this pair has {n})")
        return index

    def _check_slice(self, pair: Pair, k: int) -> None:
        n = pair.sides[0].n_slices
        if not 0 <= k < n:
            raise NotFound(f"no slice {k} (this series has {n})")

    # ------------------------------------------------------------------ answers
    def pairs_json(self) -> dict[str, Any]:
        return {
            "pairs": [
                {"index": i, "name": p.name, "labels": list(p.labels)} for i, p in enumerate(self.pairs)
            ],
            "notes": self.notes,
        }

    def pair_json(self, i: int) -> dict[str, Any]:
        pair = self.pair(i)
        original = pair.sides[0]
        n = original.n_slices
        with ThreadPoolExecutor(max_workers=len(pair.all_sides)) as pool:  # volumes decompress in parallel
            info = list(pool.map(lambda series: series.info(), pair.all_sides))
        middle = original.slice(n // 2)
        preset, level, width = default_window(middle, modality=info[0]["modality"], units=info[0]["units"])
        return {
            "index": i,
            "name": pair.name,
            "n_slices": n,
            "start_slice": n // 2,
            "labels": [*pair.labels, *(["reference"] if pair.reference is not None else [])],
            "reference_side": len(pair.sides) if pair.reference is not None else None,
            "sides": info,
            "units": info[0]["units"],
            "is_ct": info[0]["modality"] == "CT" and info[0]["units"] == "HU",
            "window": {"preset": preset, "level": level, "width": width},
            "presets": {name: {"level": lv, "width": w} for name, (lv, w) in CT_PRESETS.items()},
        }

    def slice_bytes(self, i: int, k: int, side: str) -> tuple[bytes, dict[str, str]]:
        pair = self.pair(i)
        s = self.side(pair, side)
        self._check_slice(pair, k)
        series = pair.all_sides[s]
        try:
            pixels = series.slice(k)
        except IndexError as exc:  # a copy with fewer slices than its original
            raise NotFound(str(exc)) from None
        data, dtype = encode_slice(pixels)
        return data, {
            "X-Rows": str(pixels.shape[0]),
            "X-Columns": str(pixels.shape[1]),
            "X-Dtype": dtype,
            "X-Slice": str(k),
            "X-Side": str(s),
        }

    def stats_json(self, i: int, k: int) -> dict[str, Any]:
        pair = self.pair(i)
        self._check_slice(pair, k)
        slices: list[np.ndarray | None] = []
        for series in pair.all_sides:
            try:
                slices.append(series.slice(k))
            except IndexError:
                slices.append(None)
        scores: list[dict[str, Any] | None] = [None] * len(slices)
        data_range = None
        if pair.reference is not None and slices[-1] is not None:
            clean = slices[-1]
            data_range = float(clean.max() - clean.min()) or 1.0  # the clean slice's own range
            scores = [
                reference_scores(x, clean, data_range=data_range) if x is not None else None
                for x in slices[:-1]
            ] + [None]
        level, width = auto_window(slices[0]) if slices[0] is not None else (0.0, 1.0)
        return {
            "slice": k,
            "noise": [
                noise_level(x, side.info(k)["units"]) if x is not None and min(x.shape) >= 2 else None
                for x, side in zip(slices, pair.all_sides, strict=True)
            ],
            "scores": scores if pair.reference is not None else None,
            "data_range": data_range,
            "auto_window": {"level": level, "width": width},
        }


def _handler_for(app: ViewerApp, *, quiet: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "meddenoise-viewer"

        def log_message(self, format: str, *args: Any) -> None:
            if not quiet:
                super().log_message(format, *args)

        def _send(
            self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, payload: Any, status: int = HTTPStatus.OK) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            path = url.path
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
            if host not in _LOCAL_HOSTS:  # a page elsewhere reaching us through DNS rebinding: no pixels
                self._json(
                    {"error": f"host {host!r} refused: open the viewer as 127.0.0.1"}, HTTPStatus.FORBIDDEN
                )
                return
            try:
                if path in ("/", "/index.html"):
                    self._send(HTTPStatus.OK, static_file("index.html"), _STATIC_TYPES[".html"])
                    return
                if path.startswith("/static/"):
                    name = path[len("/static/") :]
                    body = static_file(name)
                    self._send(HTTPStatus.OK, body, _STATIC_TYPES[Path(name).suffix])
                    return
                for route, pattern in _ROUTES:
                    match = pattern.match(path)
                    if match is None:
                        continue
                    args = [int(g) for g in match.groups()]
                    if route == "pairs":
                        self._json(app.pairs_json())
                    elif route == "pair":
                        self._json(app.pair_json(*args))
                    elif route == "stats":
                        self._json(app.stats_json(*args))
                    else:
                        side = parse_qs(url.query).get("side", ["0"])[0]
                        body, headers = app.slice_bytes(args[0], args[1], side)
                        self._send(HTTPStatus.OK, body, "application/octet-stream", headers)
                    return
                raise NotFound(f"{path}: no such page")
            except NotFound as exc:
                self._json({"error": str(exc)}, HTTPStatus.NOT_FOUND)
            except (ImageReadError, ValueError, OSError) as exc:
                self._json({"error": " ".join(str(exc).split())}, HTTPStatus.INTERNAL_SERVER_ERROR)

    return Handler


def make_server(app: ViewerApp, *, port: int | None = None, quiet: bool = True) -> ThreadingHTTPServer:
    """An HTTP server for ``app`` on 127.0.0.1 (``port`` ``None`` or 0: a free port); not yet serving.

    Raises
    ------
    OSError
        When ``port`` is taken.
    """
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port or 0), _handler_for(app, quiet=quiet))
    except OSError as exc:
        raise OSError(exc.errno, f"127.0.0.1:{port}: cannot serve there ({exc.strerror or exc})") from None
    server.daemon_threads = True
    return server


def server_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}/"


@contextmanager
def running_server(app: ViewerApp, *, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` in a background thread for the ``with`` block; yields the URL."""
    server = make_server(app, port=port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_url(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve(
    app: ViewerApp,
    *,
    port: int | None = None,
    open_browser: bool = True,
    echo: Callable[[str], None] = print,
) -> None:
    """Serve ``app`` until Ctrl-C: prints the URL and opens it in the browser unless ``open_browser`` is off."""
    server = make_server(app, port=port)
    url = server_url(server)
    echo(f"meddenoise viewer: {url}  ({len(app.pairs)} pair(s); Ctrl-C to stop)")
    for note in app.notes:
        echo(f"note: {note}")
    if open_browser:
        threading.Timer(0.2, webbrowser.open, args=(url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        echo("viewer stopped")
    finally:
        server.server_close()


def serve_pairs(
    original_root: str | Path | Sequence[str | Path],
    denoised_root: str | Path | Sequence[str | Path],
    *,
    reference: str | Path | None = None,
    open_browser: bool = True,
    port: int | None = None,
    echo: Callable[[str], None] = print,
) -> None:
    """Pair an original tree with its denoised copy (or copies) and serve the viewer until Ctrl-C.

    Parameters
    ----------
    original_root
        The inputs given to ``meddenoise denoise``: a file or folder, or a list of them.
    denoised_root
        Its output folder (``-o``), or several output folders to compare (one side each).
    reference
        A clean tree with the original's layout: another side, and PSNR/SSIM against it.
    open_browser
        Open the page in the default browser.
    port
        Port on 127.0.0.1 (default: a free one).
    echo
        Where the URL and notes are printed.

    Raises
    ------
    PairingError
        When a path does not exist or nothing can be paired.
    OSError
        When ``port`` is taken.
    """
    trees = [denoised_root] if isinstance(denoised_root, str | Path) else list(denoised_root)
    pairs, notes = pair_trees(original_root, trees, reference=reference)
    serve(ViewerApp(pairs, notes=notes), port=port, open_browser=open_browser, echo=echo)
