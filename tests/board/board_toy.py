"""Small parts shared by the board tests: a scripted policy, a tiny AlphaZero policy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipezero.envs.board import make_game
from pipezero.model.alphazero_net import AlphaZeroNet
from pipezero.policy.alphazero import AlphaZeroPolicy
from pipezero.policy.base import ActResult


class ScriptedPolicy:
    """Plays the moves of a script (per game, in order); visit targets are one-hot on them."""

    def __init__(self, scripts: Sequence[Sequence[int]], num_actions: int = 9) -> None:
        self.scripts = [list(s) for s in scripts]
        self.num_actions = num_actions
        self.loaded: list[Any] = []

    def collect_games(self, games: list[Any]) -> ActResult:
        actions = np.array([self.scripts[i].pop(0) for i in range(len(games))], dtype=np.int64)
        visits = np.eye(self.num_actions, dtype=np.float32)[actions]
        values = np.linspace(-0.5, 0.5, len(games)).astype(np.float32)
        return ActResult(actions, visits, values, np.zeros(len(games), np.float32))

    def set_weights(self, weights: Any) -> None:
        self.loaded.append(weights)


def tiny_alphazero(game_name: str = "tictactoe", **overrides: Any) -> AlphaZeroPolicy:
    """An AlphaZero policy with a small network and search, for fast tests."""
    game = make_game(game_name)
    cfg = {
        "model": {"num_channels": 8, "num_res_blocks": 1, "value_hidden_size": 8},
        "num_simulations": 16,
        "eval_num_simulations": 16,
        "batch_size": 16,
        "learning_rate": 1e-2,
    }
    cfg.update(overrides)
    net = AlphaZeroNet(game.observation_shape, game.num_actions, **cfg["model"])
    return AlphaZeroPolicy(cfg, net, symmetries=game.symmetries(), seed=0)
