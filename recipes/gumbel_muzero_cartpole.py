"""Gumbel MuZero on CartPole-v0 (200-step episodes): 8 collector environments, 8 simulations.

    pipezero train gumbel_muzero_cartpole --seed 0    # or: python recipes/gumbel_muzero_cartpole.py
    pipezero train gumbel_muzero_cartpole --set policy.num_simulations=4
    pipezero train gumbel_muzero_cartpole --mlflow    # also track the run with MLflow
    pipezero train gumbel_muzero_cartpole --resume latest

Gumbel search improves the policy with very few simulations: the collector plays the action
sequential halving picks under root Gumbel noise and the learner trains the policy towards the
completed-Q improved policy (see ``pipezero/policy/gumbel_muzero.py``). MuZero's CartPole
recipe otherwise (its settings and chain, :func:`muzero_cartpole.build`). The run stops when
the mean evaluation return reaches ``policy.stop_value`` (195) or after ``max_env_step``
environment steps (``benchmarks/gumbel.py`` reads its ``RESULT`` line).
"""

from __future__ import annotations

from functools import partial

from pipezero.recipes.muzero_cartpole import CARTPOLE
from pipezero.recipes.muzero_cartpole import DDP as SCALE_OUT  # noqa: F401
from pipezero.recipes.muzero_cartpole import build as build_cartpole

from pipezero.policy.gumbel_muzero import GumbelMuZeroPolicy
from pipezero.policy.gumbel_muzero_config import gumbel_muzero_config
from pipezero.recipe import main

# 8 simulations: both actions get 4 visits; MuZero's PUCT recipe uses 25
CONFIG = gumbel_muzero_config({**CARTPOLE, "policy.num_simulations": 8})
build = partial(build_cartpole, policy_class=GumbelMuZeroPolicy)

if __name__ == "__main__":
    main(__file__)
