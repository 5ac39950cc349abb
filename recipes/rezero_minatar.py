"""ReZero on MinAtar (Breakout by default): MuZero's MinAtar recipe with backward-view reanalysis.

    pipezero train rezero_minatar --env-id MinAtar/Asterix-v1 --seed 0
    pipezero train rezero_minatar --set policy.reuse_search=False   # full reanalysis
    pipezero eval runs/rezero_minatar/RUN --episodes 32

Needs ``pip install "pipezero[minatar]"`` (docs/minatar.md). MuZero's MinAtar recipe (its
settings, network and chain, :func:`muzero_minatar.build`) with the ReZero policy: after every
collect, ``buffer_reanalyze`` searches ``reanalyze_batch_size`` stored segments again with the
target network, last position first, reusing each successor's root value for the action taken.
"""

from __future__ import annotations

from functools import partial

from pipezero.recipes.muzero_minatar import CONV, minatar_config
from pipezero.recipes.muzero_minatar import SCALE_OUT as SCALE_OUT
from pipezero.recipes.muzero_minatar import SMOKE as SMOKE
from pipezero.recipes.muzero_minatar import build as build_minatar

from pipezero.policy.rezero import ReZeroPolicy
from pipezero.policy.rezero_config import rezero_config
from pipezero.recipe import main

#: one reanalysis pass of 8 segments per collect (about a tenth of what is collected meanwhile)
REANALYZE = {"policy.buffer_reanalyze_freq": 1.0, "policy.reanalyze_batch_size": 8}
CONFIG = minatar_config(rezero_config(), CONV, REANALYZE)
build = partial(build_minatar, policy_class=ReZeroPolicy)

if __name__ == "__main__":
    main(__file__)
