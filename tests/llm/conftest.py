"""The LLM tests run torch on one thread: their tensors are tiny, and on a busy 2-core
machine a second OpenMP thread mostly waits at barriers (layer norms took 6 ms instead of
microseconds). The previous setting is restored after each test.

Tests marked ``cuda`` (the marker of tests/device) run on a CUDA device and are skipped where
``torch.cuda.is_available()`` is false; ``pytest -m cuda tests/llm`` runs only them.
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA device (skipped without one)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is False)")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture
def exact_cuda() -> Iterator[None]:
    """CUDA float32 without TF32, so a CUDA result can be compared with the CPU's at float32
    tolerances."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
