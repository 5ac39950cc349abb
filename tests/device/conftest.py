"""The device tests reuse the tiny parts of tests/policy and tests/unizero (on sys.path).

Tests marked ``cuda`` run a policy on a CUDA device and are skipped where
``torch.cuda.is_available()`` is false; ``pytest -m cuda tests/device`` runs only them
(``benchmarks/gpu_check.sh`` does).
"""

import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "policy"))
sys.path.insert(0, str(HERE.parent / "unizero"))

torch.set_num_threads(1)  # tiny batches: threads only cost


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
def exact_cuda():
    """CUDA float32 without TF32 (cuDNN convolutions default to it), so a CUDA result can be
    compared with the CPU's at float32 tolerances."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
