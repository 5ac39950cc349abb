"""AlphaZero on Gomoku (five in a row, 9x9 by default): self-play, 32 games searched together.

    pipezero train alphazero_gomoku --seed 0        # or: python recipes/alphazero_gomoku.py
    pipezero train alphazero_gomoku --set env.game_kwargs.board_size=15 --max-minutes 60
    pipezero train alphazero_gomoku --resume latest
    pipezero play gomoku runs/alphazero_gomoku/RUN

The chain of ``alphazero_tictactoe`` (its :func:`build`). The board size is
``env.game_kwargs.board_size`` (6 to 19). Evaluation plays random and the rule bot (half the
games as first player) every 500 updates; the run stops at ``max_env_step`` or
``--max-minutes``.
"""

from __future__ import annotations

from pipezero.recipes.alphazero_connect4 import LARGE_BOARD
from pipezero.recipes.alphazero_tictactoe import MODES, SCALE_OUT, build, summary  # noqa: F401

from pipezero.policy.alphazero_config import alphazero_config
from pipezero.recipe import main

CONFIG = alphazero_config(
    {
        "max_env_step": 1_000_000,
        "env.game": "gomoku",
        "env.game_kwargs.board_size": 9,
        "policy.eval_num_simulations": 50,
        "policy.temperature_moves": 6,
        **LARGE_BOARD,  # Connect4's learning settings
        "policy.eval_freq": 500,
        "policy.n_evaluator_episode": 20,
        "policy.eval_opponents": ["random", "rule_bot"],
    }
)

if __name__ == "__main__":
    main(__file__)
