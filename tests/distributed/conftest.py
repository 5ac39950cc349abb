"""The distributed tests reuse the tiny policies of tests/policy (also in spawned ranks: the
children of torch.multiprocessing's spawn inherit this sys.path)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policy"))
