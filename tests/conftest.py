"""Suite-wide test setup: one torch thread everywhere, and the ``cuda`` marker.

Every test process and every subprocess a test starts (recipe runs, benchmark scripts, torchrun
ranks, Ray actors) uses one intra-op thread: the suite runs on two xdist workers, and on a
2-core machine a second OpenMP thread per process only waits for a core. Measured on the
``--cpu-smoke`` GPU benchmark with the machine loaded: 94 s with torch's default of 2 threads,
25 s with one.

Tests marked ``slow`` are left out of the default run (``-m slow`` runs them): each repeats, for
another recipe of a family, an end-to-end run that a test of the default run already makes.

Tests marked ``cuda`` run on a CUDA device and are skipped where ``torch.cuda.is_available()``
is false; ``pytest -m cuda tests/device tests/llm`` runs only them (``benchmarks/gpu_check.sh``
does).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

os.environ["OMP_NUM_THREADS"] = "1"  # before torch starts its thread pool; subprocesses inherit

import pytest
import torch

torch.set_num_threads(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA device (skipped without one)")
    config.addinivalue_line(
        "markers",
        "slow: a further end-to-end run of something a faster test already covers; left out by "
        "default (pyproject's addopts), `python -m pytest -m slow` runs them",
    )


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
