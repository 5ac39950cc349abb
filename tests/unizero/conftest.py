"""The UniZero tests share tiny parts from unizero_toy.py (this directory on sys.path), which
collects with tests/policy/policy_toy.py (on sys.path too)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policy"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
