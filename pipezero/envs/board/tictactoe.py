"""TicTacToe: a small two-player zero-sum board game with cheap copies for tree search.

Players are numbered 1 (``X``, moves first) and 2 (``O``), as LightZero does; ``to_play`` is
the player to move. Cells are actions ``0..8`` in row-major order. Rewards are given to the
player who just moved: ``+1`` for a winning move, ``0`` otherwise (draws included), so a
search can back up ``reward - value(next state)``. The shared rules live in
:class:`~pipezero.envs.board.base.BoardGame`.
"""

from __future__ import annotations

from pipezero.envs.board.base import BoardGame, parse_int

# The eight winning lines, and for each cell the lines through it.
_LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
_LINES_THROUGH = tuple(tuple(line for line in _LINES if cell in line) for cell in range(9))


class TicTacToeEnv(BoardGame):
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

    name = "tictactoe"
    num_actions = 9
    observation_shape = (3, 3, 3)

    def __init__(self) -> None:
        super().__init__(rows=3, cols=3, n_in_row=3, num_actions=9)

    def cell_of(self, action: int) -> int:
        """Actions are cells: ``action`` if that cell is empty, else ``-1``."""
        return action if self.board[action] == 0 else -1

    def wins_at(self, cell: int, player: int) -> bool:
        """Whether a stone of ``player`` on ``cell`` completes a line (lookup of its lines)."""
        board = self.board
        for a, b, c in _LINES_THROUGH[cell]:
            if (
                (a == cell or board[a] == player)
                and (b == cell or board[b] == player)
                and (c == cell or board[c] == player)
            ):
                return True
        return False

    def input_hint(self) -> str:
        """Cells are numbered 1-9, row by row from the top left."""
        return "type a cell number 1-9 (1 2 3 / 4 5 6 / 7 8 9, row by row from the top left)"

    def parse_action(self, text: str) -> int:
        """``"5"`` -> action 4 (the centre); raises ValueError for anything not legal now."""
        action = parse_int(text, 1, 9, "a cell number") - 1
        if self.board[action] != 0:
            raise ValueError(f"cell {action + 1} is already taken; choose an empty cell")
        return action
