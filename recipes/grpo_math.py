"""GRPO (group-relative advantages, no critic) on step-by-step arithmetic, after an SFT warm start.

    pipezero train grpo_math --seed 0        # or: python recipes/grpo_math.py
    pipezero train grpo_math --set learn.grpo_normalization=batch   # the reference's
    pipezero train grpo_math --set learn.grpo_credit=trajectory     # one advantage each

The chain of :mod:`appo_math` (:func:`~pipezero.recipes.appo_math.build`) with the GRPO
trainer: K samples per prompt, step rewards normalised within each prompt's group and summed
from each step to the end. 16 prompts x 8 samples per collection, step credit (measured: +9.4
points in 3 RL minutes against +5 with trajectory credit, seed 0).
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

GRPO = {"learn.algo": "grpo", "learn.grpo_credit": "step"}
CONFIG = merge_config(APPO, GRPO | {"collect.num_prompts": 16, "collect.group_size": 8})

if __name__ == "__main__":
    main(__file__)
