"""Suite-wide test setup: the ``cuda`` marker.

Tests marked ``cuda`` run on a CUDA device and are skipped where ``torch.cuda.is_available()``
is false; ``pytest -m cuda tests/device tests/llm`` runs only them (``benchmarks/gpu_check.sh``
does).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


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
    """CUDA float32 without TF32 (cuDNN convolutions default to it), so a CUDA result can be
    compared with the CPU's at float32 tolerances."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
