"""The ``>>>`` examples in the package's docstrings run and print what they show.

Every module under ``src/meddenoise`` whose source holds ``>>>`` is found by reading the files (so a
new example is picked up without listing it here) and run with :mod:`doctest`; an example that
cannot run here (it needs a trained checkpoint, say) is marked ``# doctest: +SKIP`` in place.
"""

from __future__ import annotations

import doctest
import importlib
import io
from pathlib import Path

import pytest

import meddenoise

PACKAGE_DIR = Path(meddenoise.__file__).parent


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = _modules_with_examples()


def test_the_package_has_examples() -> None:
    assert len(MODULES) >= 7, MODULES  # guards the file scan itself


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    tests = doctest.DocTestFinder().find(module, name)
    for test in sorted(tests, key=lambda t: t.name):
        runner.run(test, out=report.write)
    result = runner.summarize(verbose=False)
    assert any(test.examples for test in tests), f"{name}: no example found"
    assert result.failed == 0, report.getvalue()
