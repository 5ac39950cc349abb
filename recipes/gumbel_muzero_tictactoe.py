"""Gumbel MuZero on TicTacToe: 8 games collected together, 16 simulations, discount 1.

    pipezero train gumbel_muzero_tictactoe --seed 0   # python recipes/gumbel_muzero_tictactoe.py
    pipezero train gumbel_muzero_tictactoe --set env.battle_mode=self_play   # self-play
    pipezero train gumbel_muzero_tictactoe --resume latest --mlflow
    pipezero eval runs/gumbel_muzero_tictactoe/RUN --episodes 100

The chain and the TicTacToe settings of ``muzero_tictactoe`` (its :func:`build`, battle
modes and ``eval`` section) with the Gumbel MuZero policy (``pipezero/policy/gumbel_muzero.py``):
Gumbel-top-k over the legal moves at the root, sequential halving over the simulations, the
completed-Q improved policy as the policy target and no noise at evaluation.
"""

from __future__ import annotations

from functools import partial

from pipezero.recipes.muzero_tictactoe import EPISODES_KEY, SMOKE, TICTACTOE, summary  # noqa: F401
from pipezero.recipes.muzero_tictactoe import SCALE_OUT as SCALE_OUT
from pipezero.recipes.muzero_tictactoe import build as muzero_build

from pipezero.policy import GUMBEL_MUZERO_CONFIG, GumbelMuZeroPolicy
from pipezero.policy.board_config import board_config
from pipezero.recipe import main

CONFIG = board_config(
    GUMBEL_MUZERO_CONFIG,
    TICTACTOE,
    # 16 simulations; every legal move enters sequential halving
    {"policy.num_simulations": 16, "policy.max_num_considered_actions": 9},
)
build = partial(muzero_build, policy_class=GumbelMuZeroPolicy)

if __name__ == "__main__":
    main(__file__)
