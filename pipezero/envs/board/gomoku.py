"""Gomoku (five in a row) on a configurable square board, 6x6 to 19x19.

Free-style rules: the first player to get ``n_in_row`` (5) stones in an unbroken line,
horizontally, vertically or diagonally, wins (longer lines win too); a full board is a draw.
Actions are cells ``0 .. N*N-1`` in row-major order. Rules shared with the other games are in
:class:`~pipezero.envs.board.base.BoardGame`.
"""

from __future__ import annotations

import string

from pipezero.envs.board.base import BoardGame, parse_int

#: Column letters of the CLI (``a`` is the left column), enough for 19x19.
_LETTERS = string.ascii_lowercase[:19]


class GomokuEnv(BoardGame):
    """Gomoku with a legal-action mask, ``to_play`` and cheap copies.

    Args:
        board_size: ``N`` of the ``N x N`` board, 6 to 19 (15 is the usual size).
        n_in_row: stones in a row needed to win (5; smaller values give quick test games).

    Example:
        >>> env = GomokuEnv(board_size=9)
        >>> _ = env.reset()
        >>> env.num_actions, env.observation_shape
        (81, (3, 9, 9))
    """

    name = "gomoku"

    def __init__(self, board_size: int = 15, n_in_row: int = 5) -> None:
        if (
            isinstance(board_size, bool)
            or not isinstance(board_size, int)
            or not (6 <= board_size <= 19)
        ):
            raise ValueError(
                f"GomokuEnv: board_size must be an int from 6 to 19, got {board_size!r}"
            )
        super().__init__(
            rows=board_size, cols=board_size, n_in_row=n_in_row, num_actions=board_size**2
        )
        self.board_size = board_size

    def cell_of(self, action: int) -> int:
        """Actions are cells: ``action`` if that cell is empty, else ``-1``."""
        return action if self.board[action] == 0 else -1

    def action_to_str(self, action: int) -> str:
        """``a1`` is the top-left cell: column letter, then row number from the top."""
        row, col = divmod(int(action), self.cols)
        return f"{_LETTERS[col]}{row + 1}"

    def input_hint(self) -> str:
        """A column letter and a row number, e.g. ``h8``."""
        last = _LETTERS[self.cols - 1]
        return f"type a column letter a-{last} and a row number 1-{self.rows}, e.g. c4"

    def parse_action(self, text: str) -> int:
        """``"c4"`` (column c, row 4) -> action ``3 * N + 2``; ValueError if not legal now."""
        text = text.strip().lower().replace(" ", "")
        last = _LETTERS[self.cols - 1]
        if len(text) < 2 or text[0] not in _LETTERS[: self.cols]:
            raise ValueError(
                f"{text!r} is not a move; type a column letter a-{last} then a row number "
                f"1-{self.rows}, e.g. c4"
            )
        col = _LETTERS.index(text[0])
        row = parse_int(text[1:], 1, self.rows, "a row number") - 1
        action = row * self.cols + col
        if self.board[action] != 0:
            raise ValueError(f"{text} is already taken; choose an empty cell")
        return action
