"""Shared fixtures: the research data folder (skip when absent) and a deterministic generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from meddenoise._utils import shared_data_dir


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
