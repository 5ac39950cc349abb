"""Gumbel MuZero on MinAtar (Breakout by default): MuZero's MinAtar recipe, 16 simulations.

    pipezero train gumbel_muzero_minatar --env-id MinAtar/Freeway-v1 --seed 0
    pipezero train gumbel_muzero_minatar --mode async --set policy.num_simulations=8
    pipezero eval runs/gumbel_muzero_minatar/RUN --episodes 32

Needs ``pip install "pipezero[minatar]"`` (docs/minatar.md). MuZero's MinAtar recipe (its
settings, network and chain, :func:`muzero_minatar.build`) with Gumbel search: sequential
halving under root Gumbel noise, improved-policy targets (docs/gumbel_muzero.md).
"""

from __future__ import annotations

from functools import partial

from pipezero.recipes.muzero_minatar import SCALE_OUT as SCALE_OUT
from pipezero.recipes.muzero_minatar import SMOKE as SMOKE
from pipezero.recipes.muzero_minatar import build as build_minatar
from pipezero.recipes.muzero_minatar import minatar_config

from pipezero.policy.gumbel_muzero import GumbelMuZeroPolicy
from pipezero.policy.gumbel_muzero_config import gumbel_muzero_config
from pipezero.recipe import main

# Gumbel search improves the policy with few simulations (MuZero's MinAtar recipe: 25)
CONFIG = minatar_config(gumbel_muzero_config(), settings={"policy.num_simulations": 16})
build = partial(build_minatar, policy_class=GumbelMuZeroPolicy)

if __name__ == "__main__":
    main(__file__)
