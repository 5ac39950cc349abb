"""TicTacToe: a small two-player zero-sum board game with cheap copies for tree search.

Players are numbered 1 (moves first) and 2, as LightZero does; ``to_play`` is the player to
move. Cells are actions ``0..8`` in row-major order. Rewards are given to the player who just
moved: ``+1`` for a winning move, ``0`` otherwise (draws included), so a search can back up
``reward - value(next state)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# The eight winning lines, and for each cell the lines through it.
_LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
_LINES_THROUGH = tuple(tuple(line for line in _LINES if cell in line) for cell in range(9))


class TicTacToeEnv:
    """3x3 TicTacToe with a legal-action mask, ``to_play``, ``winner`` and state copy/restore.

    Observations are ``float32 [3, 3, 3]`` planes from the point of view of the player to move:
    their stones, the opponent's stones, and a constant plane that is 1 when player 1 is to
    move. ``step`` follows gymnasium's ``(obs, reward, terminated, truncated, info)``;
    ``info`` holds ``action_mask``, ``to_play`` and ``winner``.

    Example:
        >>> env = TicTacToeEnv()
        >>> obs, info = env.reset()
        >>> obs, reward, terminated, truncated, info = env.step(4)
        >>> int(env.to_play), bool(env.legal_actions_mask()[4])
        (2, False)
    """

    num_actions = 9
    observation_shape = (3, 3, 3)

    def __init__(self) -> None:
        self.board = np.zeros(9, dtype=np.int8)  # 0 empty, 1 or 2: the player's stone
        self.to_play = 1
        self.winner: int | None = None  # None while playing, 0 for a draw, else 1 or 2
        self.num_moves = 0

    # -- gymnasium-style API ---------------------------------------------------------------

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Empty board, player 1 to move. ``seed`` and ``options`` are accepted and unused
        (the game has no randomness)."""
        self.board[:] = 0
        self.to_play = 1
        self.winner = None
        self.num_moves = 0
        return self.observation(), self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Place the mover's stone on cell ``action``.

        Returns:
            ``(obs, reward, terminated, truncated, info)``: reward 1.0 when this move wins,
            else 0.0; ``terminated`` when the game is won or the board is full.

        Raises:
            RuntimeError: the game is already over (call :meth:`reset`).
            ValueError: ``action`` is not an int in ``[0, 9)`` or its cell is taken.
        """
        if self.winner is not None:
            raise RuntimeError(
                f"TicTacToeEnv.step: the game is over (winner={self.winner}); call reset() first"
            )
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
            raise ValueError(f"TicTacToeEnv.step: action must be an int in [0, 9), got {action!r}")
        cell = int(action)
        if not 0 <= cell < 9:
            raise ValueError(f"TicTacToeEnv.step: action must be in [0, 9), got {cell}")
        if self.board[cell] != 0:
            raise ValueError(
                f"TicTacToeEnv.step: action {cell} is illegal, the cell is taken by player "
                f"{int(self.board[cell])}; legal actions are {self.legal_actions().tolist()}"
            )
        player = self.to_play
        board = self.board
        board[cell] = player
        self.num_moves += 1
        reward = 0.0
        for a, b, c in _LINES_THROUGH[cell]:
            if board[a] == player and board[b] == player and board[c] == player:
                self.winner = player
                reward = 1.0
                break
        else:
            if self.num_moves == 9:
                self.winner = 0
        self.to_play = 3 - player
        return self.observation(), reward, self.winner is not None, False, self._info()

    # -- game queries ----------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once the game is won or drawn."""
        return self.winner is not None

    def legal_actions_mask(self) -> np.ndarray:
        """``bool [9]``: True for empty cells (all False once the game is over)."""
        if self.winner is not None:
            return np.zeros(9, dtype=np.bool_)
        return self.board == 0

    def legal_actions(self) -> np.ndarray:
        """``int64 [n]`` indices of the legal cells."""
        return np.flatnonzero(self.legal_actions_mask())

    def observation(self) -> np.ndarray:
        """``float32 [3, 3, 3]`` planes: mover's stones, opponent's stones, player-1-to-move."""
        obs = np.empty((3, 3, 3), dtype=np.float32)
        obs[0] = (self.board == self.to_play).reshape(3, 3)
        obs[1] = (self.board == 3 - self.to_play).reshape(3, 3)
        obs[2] = 1.0 if self.to_play == 1 else 0.0
        return obs

    # -- copies for search -----------------------------------------------------------------

    def copy(self) -> TicTacToeEnv:
        """An independent copy (a 9-byte board copy plus three ints)."""
        other = TicTacToeEnv.__new__(TicTacToeEnv)
        other.board = self.board.copy()
        other.to_play = self.to_play
        other.winner = self.winner
        other.num_moves = self.num_moves
        return other

    def get_state(self) -> np.ndarray:
        """The whole game state as ``int8 [11]``: board, to_play, winner (-1 while playing)."""
        winner = -1 if self.winner is None else self.winner
        return np.concatenate([self.board, np.array([self.to_play, winner], dtype=np.int8)])

    def set_state(self, state: np.ndarray) -> None:
        """Restore a state returned by :meth:`get_state`."""
        state = np.asarray(state)
        if state.shape != (11,):
            raise ValueError(
                f"TicTacToeEnv.set_state: expected shape [11], got {list(state.shape)}"
            )
        board = state[:9].astype(np.int8)
        if not np.isin(board, (0, 1, 2)).all() or int(state[9]) not in (1, 2):
            raise ValueError(
                f"TicTacToeEnv.set_state: not a valid TicTacToe state: {state.tolist()}"
            )
        self.board = board
        self.to_play = int(state[9])
        self.winner = None if int(state[10]) < 0 else int(state[10])
        self.num_moves = int(np.count_nonzero(board))

    def render(self) -> str:
        """The board as three lines of ``X`` (player 1), ``O`` (player 2) and ``.``."""
        marks = np.array([".", "X", "O"])[self.board].reshape(3, 3)
        return "\n".join("".join(row) for row in marks)

    def _info(self) -> dict[str, Any]:
        return {
            "action_mask": self.legal_actions_mask(),
            "to_play": self.to_play,
            "winner": self.winner,
        }
