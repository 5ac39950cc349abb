"""The board-game keys of the MuZero-family board recipes (``recipes/muzero_tictactoe.py``,
``recipes/gumbel_muzero_tictactoe.py``).

The MuZero-family defaults describe a gymnasium environment and ``interval_eval``. A board
recipe adds, once, what its game needs (:func:`board_config`):

- in ``env``: the game, the battle mode and the bot of ``BoardGameGymEnv``
  (:mod:`pipezero.envs.board.gym_env`);
- an ``eval`` section: the settings of ``battle_eval`` (matches against scripted opponents),
  kept apart from the policy section, whose keys the policy itself checks.

AlphaZero has its board keys in its own defaults (:mod:`pipezero.policy.alphazero_config`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from easydict import EasyDict

from pipezero.config import merge_config

#: ``env`` keys of the board recipes (on top of the MuZero-family ``env`` section).
BOARD_ENV: dict[str, Any] = {
    "env_id": "pipezero-board",  # a label: the environment is BoardGameGymEnv(game, ...)
    "game": "tictactoe",  # tictactoe | connect4 | gomoku
    "battle_mode": "play_with_bot",  # play_with_bot | self_play
    "bot": "rule_bot",  # the opponent in play_with_bot mode
    "bot_kwargs": {},  # its make_opponent arguments, e.g. {"randomness": 3.0}
    # the agent's side against the bot: "first", "second" or "random" (drawn every game);
    # names, not 1 / 2, since a config value keeps one type (BoardGameGymEnv takes both)
    "agent_player": "first",
}

#: The ``eval`` section: ``battle_eval``'s settings.
BOARD_EVAL: dict[str, Any] = {
    "eval_freq": 500,  # train iterations between evaluations
    "n_evaluator_episode": 50,  # games per opponent
    "eval_opponents": ["rule_bot", "random"],
    "eval_sides": "first",  # first | second | both (half the games on each side)
    "stop_opponent": None,  # finish when the results against it meet the two rates below
    "stop_win_rate": 0.0,
    "stop_loss_rate": 0.0,
}


def board_config(base: Mapping[str, Any], *overrides: Mapping[str, Any]) -> EasyDict:
    """The MuZero-family defaults ``base`` with the board keys (:data:`BOARD_ENV`,
    :data:`BOARD_EVAL`), then each of ``overrides`` merged in turn (validated)."""
    cfg = copy.deepcopy(dict(base))
    cfg["env"] = {**cfg["env"], **copy.deepcopy(BOARD_ENV)}
    cfg["eval"] = copy.deepcopy(BOARD_EVAL)
    for override in overrides:
        cfg = merge_config(cfg, override)
    return EasyDict(cfg)
