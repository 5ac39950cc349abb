"""The Atari tests import their small parts from atari_toy.py beside them."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
