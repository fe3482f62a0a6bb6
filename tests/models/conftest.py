"""Run the model tests single-threaded: their tensors are tiny, and on a busy machine OpenMP threads
waiting for each other cost far more than a second core gains."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
