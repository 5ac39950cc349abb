"""Shared machinery of the two-player board games: board array, players, masks, copies.

Players are numbered 1 (moves first) and 2, as LightZero does; ``to_play`` is the player to
move. The board is a flat ``int8 [H * W]`` array in row-major order (row 0 is the top row):
0 empty, 1 or 2 a player's stone. Rewards go to the player who just moved: ``+1`` for a
winning move, ``0`` otherwise (draws included), so a search can back up
``reward - value(next state)``. ``winner`` is ``None`` while playing, ``0`` for a draw, else the
winning player.

Observations are ``float32 [3, H, W]`` planes from the point of view of the player to move:
their stones, the opponent's stones, and a constant plane that is 1 when player 1 is to move.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

#: (row step, column step) of the four line directions: horizontal, vertical, two diagonals.
DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


class BoardGame:
    """Base of :class:`TicTacToeEnv`, :class:`Connect4Env` and :class:`GomokuEnv`.

    A subclass sets ``rows``, ``cols``, ``n_in_row`` and ``num_actions``, and implements
    :meth:`cell_of` (the cell an action fills, ``-1`` if none). Everything else (steps, masks,
    copies, states, rendering, symmetries) is shared.

    Attributes:
        board: ``int8 [H * W]`` stones, row-major.
        to_play: player to move, 1 or 2.
        winner: ``None`` while playing, 0 for a draw, else 1 or 2.
        num_moves: stones on the board.
        last_action: the previous move (``-1`` at the start).
    """

    #: Short name used by the registry, the CLI and error messages.
    name: ClassVar[str] = "board"
    #: Whether the board (and action space) is symmetric under rotations (else: mirror only).
    square_symmetric: ClassVar[bool] = True

    def __init__(self, rows: int, cols: int, n_in_row: int, num_actions: int) -> None:
        for arg, value in (("rows", rows), ("cols", cols), ("n_in_row", n_in_row)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{type(self).__name__}: {arg} must be an int >= 1, got {value!r}")
        if n_in_row > max(rows, cols):
            raise ValueError(
                f"{type(self).__name__}: n_in_row={n_in_row} does not fit on a {rows}x{cols} "
                f"board; use n_in_row <= {max(rows, cols)}"
            )
        self.rows, self.cols, self.n_in_row = int(rows), int(cols), int(n_in_row)
        self.num_actions = int(num_actions)
        self.observation_shape = (3, self.rows, self.cols)
        self.board = np.zeros(self.rows * self.cols, dtype=np.int8)
        self.to_play = 1
        self.winner: int | None = None
        self.num_moves = 0
        self.last_action = -1

    # -- what subclasses define ------------------------------------------------------------

    def cell_of(self, action: int) -> int:
        """The cell (flat index) that ``action`` fills now, or ``-1`` if it is illegal."""
        raise NotImplementedError

    # -- gymnasium-style API ---------------------------------------------------------------

    @property
    def max_game_length(self) -> int:
        """Most moves a game can last (every cell filled)."""
        return self.rows * self.cols

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Empty board, player 1 to move. ``seed`` and ``options`` are accepted and unused
        (the games have no randomness)."""
        self.board[:] = 0
        self.to_play = 1
        self.winner = None
        self.num_moves = 0
        self.last_action = -1
        self._reset_extra()
        return self.observation(), self._info()

    def _reset_extra(self) -> None:
        """Reset subclass bookkeeping (Connect4's column heights)."""

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Play ``action`` for the player to move.

        Returns:
            ``(obs, reward, terminated, truncated, info)``: reward 1.0 when this move wins,
            else 0.0; ``terminated`` when the game is won or the board is full; ``info`` holds
            ``action_mask``, ``to_play`` and ``winner``.

        Raises:
            RuntimeError: the game is already over (call :meth:`reset`).
            ValueError: ``action`` is not an int in ``[0, num_actions)`` or is illegal now.
        """
        cell = self._checked_cell(action)
        player = self.to_play
        self.board[cell] = player
        self.num_moves += 1
        self.last_action = int(action)
        self._placed(cell)
        reward = 0.0
        if self.wins_at(cell, player):
            self.winner = player
            reward = 1.0
        elif self.num_moves == self.rows * self.cols:
            self.winner = 0
        self.to_play = 3 - player
        return self.observation(), reward, self.winner is not None, False, self._info()

    def _placed(self, cell: int) -> None:
        """Update subclass bookkeeping after a stone was put on ``cell``."""

    def _checked_cell(self, action: Any) -> int:
        kind = type(self).__name__
        if self.winner is not None:
            raise RuntimeError(
                f"{kind}.step: the game is over (winner={self.winner}); call reset() first"
            )
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
            raise ValueError(
                f"{kind}.step: action must be an int in [0, {self.num_actions}), got {action!r}"
            )
        action = int(action)
        if not 0 <= action < self.num_actions:
            raise ValueError(
                f"{kind}.step: action must be in [0, {self.num_actions}), got {action}"
            )
        cell = self.cell_of(action)
        if cell < 0:
            raise ValueError(
                f"{kind}.step: action {action} is illegal, {self._illegal_reason(action)}; "
                f"legal actions are {self.legal_actions().tolist()}"
            )
        return cell

    def _illegal_reason(self, action: int) -> str:
        return f"the cell is taken by player {int(self.board[action])}"

    # -- game queries ----------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once the game is won or drawn."""
        return self.winner is not None

    def legal_actions_mask(self) -> np.ndarray:
        """``bool [A]``: True for legal actions (all False once the game is over)."""
        if self.winner is not None:
            return np.zeros(self.num_actions, dtype=np.bool_)
        return self.board == 0

    def legal_actions(self) -> np.ndarray:
        """``int64 [n]`` indices of the legal actions."""
        return np.flatnonzero(self.legal_actions_mask())

    def observation(self) -> np.ndarray:
        """``float32 [3, H, W]`` planes: mover's stones, opponent's stones, player-1-to-move."""
        obs = np.empty(self.observation_shape, dtype=np.float32)
        shape = (self.rows, self.cols)
        obs[0] = (self.board == self.to_play).reshape(shape)
        obs[1] = (self.board == 3 - self.to_play).reshape(shape)
        obs[2] = 1.0 if self.to_play == 1 else 0.0
        return obs

    def line_length(self, cell: int, player: int, dr: int, dc: int) -> int:
        """Stones of ``player`` in a row through ``cell`` along ``(dr, dc)``, counting
        ``cell`` itself whatever it holds."""
        return self.line_run(cell, player, dr, dc)[0]

    def line_run(self, cell: int, player: int, dr: int, dc: int) -> tuple[int, int]:
        """``(length, open_ends)`` of the line of ``player`` through ``cell`` along
        ``(dr, dc)`` if ``cell`` held a stone of ``player``: stones in a row, and how many of
        its two ends are empty cells (0, 1 or 2)."""
        rows, cols, board = self.rows, self.cols, self.board
        r0, c0 = divmod(cell, cols)
        count, open_ends = 1, 0
        for sign in (1, -1):
            r, c = r0 + sign * dr, c0 + sign * dc
            while 0 <= r < rows and 0 <= c < cols and board[r * cols + c] == player:
                count += 1
                r += sign * dr
                c += sign * dc
            if 0 <= r < rows and 0 <= c < cols and board[r * cols + c] == 0:
                open_ends += 1
        return count, open_ends

    def wins_at(self, cell: int, player: int) -> bool:
        """Whether a stone of ``player`` on ``cell`` completes ``n_in_row``."""
        return any(self.line_length(cell, player, dr, dc) >= self.n_in_row for dr, dc in DIRECTIONS)

    def winning_actions(self, player: int) -> list[int]:
        """Legal actions that would win at once for ``player`` (whoever is to move)."""
        if self.winner is not None:
            return []
        out = []
        for action in self.legal_actions().tolist():
            cell = self.cell_of(action)
            if self.wins_at(cell, player):
                out.append(action)
        return out

    # -- copies for search -----------------------------------------------------------------

    def copy(self) -> BoardGame:
        """An independent copy (the board array is copied, the rest are ints)."""
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.board = self.board.copy()
        return other

    def get_state(self) -> np.ndarray:
        """The whole game state as ``int8 [H * W + 2]``: board, to_play, winner (-1 while
        playing)."""
        winner = -1 if self.winner is None else self.winner
        return np.concatenate([self.board, np.array([self.to_play, winner], dtype=np.int8)])

    def set_state(self, state: np.ndarray) -> None:
        """Restore a state returned by :meth:`get_state` (of a game of the same size)."""
        kind, size = type(self).__name__, self.rows * self.cols
        state = np.asarray(state)
        if state.shape != (size + 2,):
            raise ValueError(
                f"{kind}.set_state: expected shape [{size + 2}] for a {self.rows}x{self.cols} "
                f"board, got {list(state.shape)}"
            )
        board = state[:size].astype(np.int8)
        if not np.isin(board, (0, 1, 2)).all() or int(state[size]) not in (1, 2):
            raise ValueError(f"{kind}.set_state: not a valid state: {state.tolist()}")
        self._check_board(board)
        self.board = board
        self.to_play = int(state[size])
        self.winner = None if int(state[size + 1]) < 0 else int(state[size + 1])
        self.num_moves = int(np.count_nonzero(board))
        self.last_action = -1
        self._restored()

    def _check_board(self, board: np.ndarray) -> None:
        """Raise ``ValueError`` if ``board`` breaks a rule of the game (Connect4: gravity)."""

    def _restored(self) -> None:
        """Rebuild subclass bookkeeping from ``board`` after :meth:`set_state`."""

    # -- symmetries and text ---------------------------------------------------------------

    def symmetries(self) -> tuple[np.ndarray, np.ndarray]:
        """Board symmetries as gather indices, for data augmentation.

        Returns:
            ``(cell_perms [G, H * W], action_perms [G, A])``: transformed boards are
            ``board[cell_perms[g]]`` and transformed policies ``policy[action_perms[g]]``
            (row 0 is the identity). Square boards whose actions are cells have the 8
            rotations and reflections; others the identity and the left-right mirror.
        """
        grid = np.arange(self.rows * self.cols).reshape(self.rows, self.cols)
        if self.square_symmetric and self.rows == self.cols:
            views = [np.rot90(grid, k) for k in range(4)]
            views += [np.fliplr(v) for v in views]
        else:
            views = [grid, np.fliplr(grid)]
        cells = np.stack([v.reshape(-1) for v in views]).astype(np.int64)
        return cells, self._action_perms(cells)

    def _action_perms(self, cell_perms: np.ndarray) -> np.ndarray:
        return cell_perms  # actions are cells

    def render(self) -> str:
        """The board as lines of ``X`` (player 1), ``O`` (player 2) and ``.``, row 0 first."""
        marks = np.array([".", "X", "O"])[self.board].reshape(self.rows, self.cols)
        return "\n".join("".join(row) for row in marks)

    def action_to_str(self, action: int) -> str:
        """How the CLI names ``action`` (1-based)."""
        return str(int(action) + 1)

    def parse_action(self, text: str) -> int:
        """Read an action typed by a person (see :meth:`input_hint`).

        Raises:
            ValueError: the text is not a legal move; the message says what to type.
        """
        raise NotImplementedError

    def input_hint(self) -> str:
        """One line telling a person how to type a move."""
        raise NotImplementedError

    def _info(self) -> dict[str, Any]:
        return {
            "action_mask": self.legal_actions_mask(),
            "to_play": self.to_play,
            "winner": self.winner,
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.rows}x{self.cols}, to_play={self.to_play}, "
            f"winner={self.winner}, moves={self.num_moves})"
        )


def parse_int(text: str, low: int, high: int, what: str) -> int:
    """``int(text)`` checked to lie in ``[low, high]``, else a ValueError naming ``what``."""
    text = text.strip()
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number; type {what} from {low} to {high}") from None
    if not low <= value <= high:
        raise ValueError(f"{value} is out of range; type {what} from {low} to {high}")
    return value
