"""The multi-task tests reuse the tiny policies of tests/policy."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policy"))

import torch

torch.set_num_threads(1)  # tiny batches: threads only cost (see tests/policy/conftest.py)
