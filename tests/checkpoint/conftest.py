"""The checkpoint tests run tiny models: threads only cost (see tests/policy/conftest.py)."""

import torch

torch.set_num_threads(1)
