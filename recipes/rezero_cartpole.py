"""ReZero on CartPole-v0: MuZero plus whole-buffer backward-view reanalysis (buffer_reanalyze).

    pipezero train rezero_cartpole --seed 0    # or: python recipes/rezero_cartpole.py
    pipezero train rezero_cartpole --set policy.reuse_search=False   # full reanalysis
    pipezero train rezero_cartpole --set policy.collect_with_pure_policy=True
    pipezero train rezero_cartpole --resume latest

MuZero's CartPole recipe (its settings and chain, :func:`muzero_cartpole.build`) with the
ReZero policy and ``buffer_reanalyze`` after ``data_push``: every collect it searches the next
``reanalyze_batch_size`` stored segments again with the target network, last position first,
reusing each successor's root value for the action taken. The run stops when the mean
evaluation return reaches ``policy.stop_value`` (195) or after ``max_env_step`` environment
steps; the ``RESULT`` line holds the reanalysis counters (``benchmarks/rezero.py`` reads it).
"""

from __future__ import annotations

from functools import partial

from pipezero.recipes.muzero_cartpole import CARTPOLE
from pipezero.recipes.muzero_cartpole import DDP as SCALE_OUT  # noqa: F401
from pipezero.recipes.muzero_cartpole import build as build_cartpole

from pipezero.policy.rezero import ReZeroPolicy
from pipezero.policy.rezero_config import rezero_config
from pipezero.recipe import main

CONFIG = rezero_config(
    {
        **CARTPOLE,
        "max_env_step": 10_000,
        "policy.buffer_reanalyze_freq": 1.0,  # one pass per collect (16 x 8 env steps)
        "policy.reanalyze_batch_size": 32,  # segments (windows of 65 positions) per pass
    }
)
build = partial(build_cartpole, policy_class=ReZeroPolicy)

if __name__ == "__main__":
    main(__file__)
