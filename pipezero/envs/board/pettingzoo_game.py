"""Bring a PettingZoo classic board game (``tictactoe_v3``, ``connect_four_v3``) to pipezero.

:class:`PettingZooGame` wraps a two-player AEC environment whose observations are dicts with
``observation [H, W, 2]`` (the mover's and the opponent's stones) and ``action_mask [A]``. It
gives the same interface as the native games where search and matches need it: ``to_play``
(1 or 2, the index of ``agent_selection`` + 1), ``step`` with the mover's reward,
``legal_actions_mask``, ``observation`` (``float32 [3, H, W]``: mover, opponent,
player-1-to-move, like the native games), ``copy`` (a deep copy of the environment's state:
slower than the native games' array copies), ``winner`` and ``done``. PettingZoo's wrappers
are dropped (``env.unwrapped`` is used): the adapter checks moves itself and raises
``ValueError`` on an illegal one instead of ending the game. So ``AlphaZeroSearch``,
``play_match`` with ``RandomPlayer`` and the AlphaZero policy work on it.

PettingZoo is optional (``pip install "pettingzoo[classic]"``; the classic games also need
``pygame``). Its action numbering is kept: in ``tictactoe_v3`` cells are numbered column by
column.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np


def _import_classic(name: str) -> Any:
    try:
        from pettingzoo import classic
    except ImportError as err:
        raise ImportError(
            f"PettingZooGame({name!r}) needs PettingZoo's classic games: "
            f'pip install "pettingzoo[classic]" (they also need pygame); {err}'
        ) from err
    module = getattr(classic, name, None)
    if module is None:
        raise ValueError(
            f"pettingzoo.classic has no {name!r}; pass e.g. 'tictactoe_v3' or 'connect_four_v3'"
        )
    return module


class PettingZooGame:
    """A two-player PettingZoo AEC board game with the native games' interface.

    Args:
        env: an AEC environment instance, or the name of a ``pettingzoo.classic`` module
            (``"tictactoe_v3"``, ``"connect_four_v3"``).
        seed: passed to the first ``env.reset``.

    Raises:
        ValueError: the environment does not have two agents, a discrete action space and
            dict observations with ``observation`` and ``action_mask``.
    """

    def __init__(self, env: Any, seed: int | None = None) -> None:
        if isinstance(env, str):
            env = _import_classic(env).env()
        env = getattr(env, "unwrapped", env)  # this class checks moves itself
        self.env = env
        env.reset(seed=seed)
        self.agents = list(env.possible_agents)
        if len(self.agents) != 2:
            raise ValueError(f"PettingZooGame needs a two-player game, got agents {self.agents}")
        space = env.action_space(self.agents[0])
        if not hasattr(space, "n"):
            raise ValueError(f"PettingZooGame needs a Discrete action space, got {space}")
        self.num_actions = int(space.n)
        obs = env.observe(env.agent_selection)
        if not isinstance(obs, dict) or not {"observation", "action_mask"} <= set(obs):
            raise ValueError(
                "PettingZooGame needs dict observations with 'observation' and 'action_mask' "
                f"(PettingZoo classic games), got {type(obs).__name__}"
            )
        rows, cols = np.asarray(obs["observation"]).shape[:2]
        self.rows, self.cols = int(rows), int(cols)
        self.observation_shape = (3, self.rows, self.cols)
        self.name = f"pettingzoo:{env.metadata.get('name', type(env).__name__)}"
        self.winner: int | None = None
        self.num_moves = 0

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new game."""
        self.env.reset(seed=seed, options=options)
        self.winner = None
        self.num_moves = 0
        return self.observation(), self._info()

    @property
    def to_play(self) -> int:
        """Player to move: 1 for the first agent, 2 for the second."""
        return self.agents.index(self.env.agent_selection) + 1

    @property
    def done(self) -> bool:
        """True once the game is over."""
        return self.winner is not None

    @property
    def max_game_length(self) -> int:
        """Upper bound on the moves of a game (cells of the board)."""
        return self.rows * self.cols

    def legal_actions_mask(self) -> np.ndarray:
        """``bool [A]`` legal moves of the player to move (all False once over)."""
        if self.done:
            return np.zeros(self.num_actions, dtype=np.bool_)
        return np.asarray(self.env.observe(self.env.agent_selection)["action_mask"], dtype=bool)

    def legal_actions(self) -> np.ndarray:
        """``int64 [n]`` indices of the legal moves."""
        return np.flatnonzero(self.legal_actions_mask())

    def observation(self) -> np.ndarray:
        """``float32 [3, H, W]``: mover's stones, opponent's stones, player-1-to-move."""
        planes = np.asarray(self.env.observe(self.env.agent_selection)["observation"])
        obs = np.empty(self.observation_shape, dtype=np.float32)
        obs[:2] = np.moveaxis(planes, -1, 0)[:2]
        obs[2] = 1.0 if self.to_play == 1 else 0.0
        return obs

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Play ``action`` for the player to move; the reward is the mover's.

        Raises:
            RuntimeError: the game is over.
            ValueError: ``action`` is illegal (PettingZoo would end the game instead).
        """
        if self.done:
            raise RuntimeError(
                f"PettingZooGame.step: the game is over (winner={self.winner}); call reset()"
            )
        mask = self.legal_actions_mask()
        if not (0 <= int(action) < self.num_actions and mask[int(action)]):
            raise ValueError(
                f"PettingZooGame.step: action {action!r} is illegal; legal actions are "
                f"{np.flatnonzero(mask).tolist()}"
            )
        mover = self.env.agent_selection
        self.env.step(int(action))
        self.num_moves += 1
        terminated = any(self.env.terminations.values())
        truncated = any(self.env.truncations.values()) and not terminated
        reward = float(self.env.rewards[mover]) if terminated else 0.0
        if terminated:
            player = self.agents.index(mover) + 1
            self.winner = player if reward > 0 else (3 - player if reward < 0 else 0)
        return self.observation(), reward, terminated, truncated, self._info()

    def copy(self) -> PettingZooGame:
        """An independent copy: the environment's attributes are deep-copied (PettingZoo's
        environments pickle as their constructor arguments, so ``copy.deepcopy`` of one
        would give a fresh, unplayed game)."""
        other = object.__new__(PettingZooGame)
        other.__dict__.update(self.__dict__)
        env = object.__new__(type(self.env))
        env.__dict__.update(copy.deepcopy(self.env.__dict__))
        other.env = env
        return other

    def render(self) -> str:
        """The board as text: ``X`` first player, ``O`` second, ``.`` empty (PettingZoo's
        layout of ``observation``)."""
        planes = np.asarray(self.env.observe(self.env.agent_selection)["observation"])
        first, second = (0, 1) if self.to_play == 1 else (1, 0)
        board = np.where(planes[..., first] > 0, "X", np.where(planes[..., second] > 0, "O", "."))
        return "\n".join("".join(row) for row in board)

    def _info(self) -> dict[str, Any]:
        return {
            "action_mask": self.legal_actions_mask(),
            "to_play": self.to_play,
            "winner": self.winner,
        }
