"""AlphaZero on Connect Four (6x7): self-play with 32 games searched together.

    pipezero train alphazero_connect4 --seed 0      # or: python recipes/alphazero_connect4.py
    pipezero train alphazero_connect4 --max-minutes 30 --set policy.num_simulations=100
    pipezero train alphazero_connect4 --resume latest
    pipezero play connect4 runs/alphazero_connect4/RUN

The chain of ``alphazero_tictactoe`` (its :func:`build`). Every 2000 updates, evaluation plays
100 games against the rule bot (50 as first player, 50 as second) with a 200-simulation search
averaged over the board's mirror image; the run stops at ``max_env_step`` or
``--max-minutes`` (``--set policy.stop_opponent=rule_bot --set policy.stop_win_rate=0.95``
stops at the first evaluation winning 95%, but such a stop was lucky twice: the few distinct
lines of one match need not be those of the next).
"""

from __future__ import annotations

from pipezero.recipes.alphazero_tictactoe import MODES, SCALE_OUT, build, summary  # noqa: F401

from pipezero.policy.alphazero_config import alphazero_config
from pipezero.recipe import main

#: Learning on the larger boards (``alphazero_gomoku`` too): larger batches and replay buffer,
#: fewer updates per move than TicTacToe.
LARGE_BOARD = {
    "policy.batch_size": 256,
    "policy.replay_buffer_size": 100_000,
    "policy.replay_ratio": 0.05,
    "policy.min_buffer_transitions": 1000,
}
CONFIG = alphazero_config(
    {
        "max_env_step": 300_000,
        "env.game": "connect4",
        "policy.eval_num_simulations": 200,  # the agent's search in evaluation and play
        "policy.eval_average_symmetries": True,  # mirrored positions played alike (see below)
        "policy.root_dirichlet_alpha": 1.0,
        "policy.temperature_moves": 8,
        **LARGE_BOARD,
        "policy.lr_schedule": "cosine",  # to lr_final_ratio over ~30 minutes of updates
        "policy.lr_decay_iters": 15_000,
        # The benchmark's match: 100 games, 50 on each side. No early stop: the
        # deterministic agent and the rule bot play only a few distinct lines per match,
        # so one perfect evaluation does not carry over to other bot seeds
        # (docs/board_games.md).
        "policy.eval_freq": 2000,
        "policy.n_evaluator_episode": 100,
        "policy.eval_opponents": ["rule_bot"],
    }
)

if __name__ == "__main__":
    main(__file__)
