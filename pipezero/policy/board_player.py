"""Trained policies as board-game players (``act(game)`` / ``act_batch(games)``).

:func:`~pipezero.envs.board.play_match`, the ``battle_eval`` middleware and ``pipezero play``
take players. These adapters turn a policy into one:

- :class:`AlphaZeroPlayer` searches the real game states with
  :meth:`AlphaZeroPolicy.evaluate_games`;
- :class:`PolicyPlayer` feeds observations, legal masks and ``to_play`` to any
  :class:`~pipezero.policy.base.PolicyProtocol` (MuZero): ``evaluate(obs, mask, to_play)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipezero.policy.alphazero import AlphaZeroPolicy
from pipezero.policy.base import PolicyProtocol


class AlphaZeroPlayer:
    """Plays the most visited move of a noise-free AlphaZero search.

    Args:
        policy: the policy whose acting model and evaluation search are used.
        name: the player's name in match results.
    """

    def __init__(self, policy: AlphaZeroPolicy, name: str = "alphazero") -> None:
        self.policy = policy
        self.name = name

    def act_batch(self, games: Sequence[Any]) -> np.ndarray:
        """``[N]`` moves for ``N`` games, searched together."""
        return self.policy.evaluate_games(games).action

    def act(self, game: Any) -> int:
        """The move for one game."""
        return int(self.act_batch([game])[0])


class PolicyPlayer:
    """Plays ``policy.evaluate`` on the games' observations (MuZero-family policies).

    Args:
        policy: any :class:`~pipezero.policy.base.PolicyProtocol`.
        single_player: pass ``to_play = -1`` (the policy was trained in play-with-bot mode,
            a single-agent view) instead of the game's player to move (self-play training).
        name: the player's name in match results.
    """

    def __init__(
        self, policy: PolicyProtocol, single_player: bool = False, name: str = "agent"
    ) -> None:
        self.policy = policy
        self.single_player = single_player
        self.name = name

    def act_batch(self, games: Sequence[Any]) -> np.ndarray:
        """``[N]`` moves for ``N`` games, in one ``evaluate`` call."""
        obs = np.stack([g.observation() for g in games]).astype(np.float32)
        mask = np.stack([g.legal_actions_mask() for g in games]).astype(bool)
        if self.single_player:
            to_play = np.full(len(games), -1, dtype=np.int64)
        else:
            to_play = np.array([g.to_play for g in games], dtype=np.int64)
        return np.asarray(self.policy.evaluate(obs, mask, to_play).action, dtype=np.int64)

    def act(self, game: Any) -> int:
        """The move for one game."""
        return int(self.act_batch([game])[0])
