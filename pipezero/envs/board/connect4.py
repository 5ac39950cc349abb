"""Connect Four: drop stones into columns; four in a row (any direction) wins.

The standard board has 6 rows and 7 columns; both are configurable. Actions are columns
``0 .. W-1``; a stone falls to the lowest empty cell of its column. The board is stored
row-major with row 0 at the *top*, so a column fills from row ``H - 1`` upwards. Rules shared
with the other games (players, rewards, observations) are in
:class:`~pipezero.envs.board.base.BoardGame`.
"""

from __future__ import annotations

import numpy as np

from pipezero.envs.board.base import BoardGame, parse_int


class Connect4Env(BoardGame):
    """Connect Four with a legal-action mask over columns, ``to_play`` and cheap copies.

    Args:
        rows: ``H`` (6).
        cols: ``W`` (7), also the number of actions.
        n_in_row: stones in a row needed to win (4).

    Observations are ``float32 [3, H, W]`` (mover's stones, opponent's stones, player 1 to
    move). ``heights [W]`` counts the stones in each column.

    Example:
        >>> env = Connect4Env()
        >>> _ = env.reset()
        >>> _ = env.step(3)
        >>> int(env.board[5 * 7 + 3]), int(env.heights[3])
        (1, 1)
    """

    name = "connect4"
    square_symmetric = False

    def __init__(self, rows: int = 6, cols: int = 7, n_in_row: int = 4) -> None:
        super().__init__(rows=rows, cols=cols, n_in_row=n_in_row, num_actions=cols)
        self.heights = np.zeros(self.cols, dtype=np.int64)

    def cell_of(self, action: int) -> int:
        """The cell where a stone dropped into column ``action`` lands, ``-1`` if it is full."""
        height = self.heights[action]
        if height >= self.rows:
            return -1
        return int((self.rows - 1 - height) * self.cols + action)

    def _illegal_reason(self, action: int) -> str:
        return f"column {action} is full"

    def _reset_extra(self) -> None:
        self.heights[:] = 0

    def _placed(self, cell: int) -> None:
        self.heights[cell % self.cols] += 1

    def _check_board(self, board: np.ndarray) -> None:
        grid = board.reshape(self.rows, self.cols) != 0
        filled = np.arange(self.rows)[::-1, None] < grid.sum(axis=0)[None, :]  # bottom-up
        if not np.array_equal(grid, filled):
            rows = ["".join(".XO"[v] for v in row) for row in board.reshape(self.rows, -1)]
            raise ValueError(
                "Connect4Env.set_state: stones must rest on the bottom row or on other stones; "
                "got a floating stone in the board " + " / ".join(rows)
            )

    def _restored(self) -> None:
        grid = self.board.reshape(self.rows, self.cols)
        self.heights = np.count_nonzero(grid, axis=0).astype(np.int64)

    def legal_actions_mask(self) -> np.ndarray:
        """``bool [W]``: True for columns that are not full (all False once the game is over)."""
        if self.winner is not None:
            return np.zeros(self.num_actions, dtype=np.bool_)
        return self.heights < self.rows

    def copy(self) -> Connect4Env:
        """An independent copy (board and heights arrays copied)."""
        other = super().copy()
        other.heights = self.heights.copy()
        return other  # type: ignore[return-value]

    def _action_perms(self, cell_perms: np.ndarray) -> np.ndarray:
        columns = np.arange(self.cols)
        return np.stack([columns, columns[::-1]]).astype(np.int64)

    def input_hint(self) -> str:
        """Columns are numbered 1 to W from the left."""
        return f"type a column number 1-{self.cols} (from the left)"

    def parse_action(self, text: str) -> int:
        """``"4"`` -> column 3; raises ValueError for anything not legal now."""
        column = parse_int(text, 1, self.cols, "a column number") - 1
        if self.heights[column] >= self.rows:
            raise ValueError(f"column {column + 1} is full; choose another column")
        return column
