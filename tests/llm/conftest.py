"""The LLM tests run torch on one thread: their tensors are tiny, and on a busy 2-core
machine a second OpenMP thread mostly waits at barriers (layer norms took 6 ms instead of
microseconds). The previous setting is restored after each test.

Tests marked ``cuda`` (tests/conftest.py) run on a CUDA device; ``pytest -m cuda tests/llm``
runs only them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
