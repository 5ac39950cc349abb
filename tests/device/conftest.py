"""The device tests reuse the tiny parts of tests/policy and tests/unizero (on sys.path).

Tests marked ``cuda`` (tests/conftest.py) run a policy on a CUDA device; ``pytest -m cuda
tests/device`` runs only them (``benchmarks/gpu_check.sh`` does).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "policy"))
sys.path.insert(0, str(HERE.parent / "unizero"))
