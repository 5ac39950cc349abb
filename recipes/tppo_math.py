"""TPPO (token-level PPO with a critic) on step-by-step arithmetic, after a supervised warm start.

    pipezero train tppo_math --seed 0        # or: python recipes/tppo_math.py
    pipezero train tppo_math --set collect.mode=steps --set collect.num_prompts=32

The chain of :mod:`appo_math` (:func:`~pipezero.recipes.appo_math.build`) with the TPPO
trainer: a value before every generated token, token-level GAE (``gamma`` only between
steps) and the step reward on the step's last token.
"""

from __future__ import annotations

from pipezero.recipes.appo_math import CONFIG as APPO
from pipezero.recipes.appo_math import DEVICES as DEVICES
from pipezero.recipes.appo_math import EPISODES_KEY as EPISODES_KEY
from pipezero.recipes.appo_math import MODES as MODES
from pipezero.recipes.appo_math import SMOKE as SMOKE
from pipezero.recipes.appo_math import build as build

from pipezero.config import merge_config
from pipezero.recipe import main

CONFIG = merge_config(APPO, {"learn.algo": "tppo"})

if __name__ == "__main__":
    main(__file__)
