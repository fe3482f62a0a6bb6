"""Shared fixtures: the research data folder (skip when absent) and a deterministic generator; under
``$CI`` the property tests draw a fixed set of examples (hypothesis profile ``ci``).

Markers (tests/GUIDELINES.md): a test that uses ``shared_data``, directly or through another fixture,
is marked ``data`` here, so ``-m "not data"`` never selects a test that would skip for want of it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from meddenoise._utils import shared_data_dir

# CI draws the same property-test examples every run (a stop must not fail by chance: a random draw once
# found a float16 edge case in CI's place); locally hypothesis keeps exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()) and item.get_closest_marker("data") is None:
            item.add_marker(pytest.mark.data)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``$MEDDENOISE_DATA``); tests that use it skip when it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("research data folder ../shared/data (or $MEDDENOISE_DATA) is absent")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Run torch single-threaded in tests: their tensors are tiny, and on a 2-core machine OpenMP threads
    waiting for each other cost more than a second core gains. Torch is not imported here, so tests of the
    torch-free paths stay torch-free."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
