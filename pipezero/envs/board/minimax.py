"""A perfect player for small boards (TicTacToe): memoised negamax over the whole game tree.

Scores are from the point of view of the player to move: ``0`` for a draw, ``1 + e`` for a
win and ``-(1 + e)`` for a loss, where ``e`` is the number of empty cells left when the game
ends, so quicker wins (and slower losses) score higher. The sign is the game-theoretic value.
Solved positions are cached per game size in a process-wide table (TicTacToe has 4520
unfinished positions; solving them all takes about 0.2 s).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipezero.envs.board.base import BoardGame

#: Largest board (cells) the solver accepts: 3x3 is instant, 4x4 already takes minutes.
MAX_CELLS = 12

_TABLES: dict[tuple[Any, ...], dict[bytes, int]] = {}


def _table(game: BoardGame) -> dict[bytes, int]:
    key = (type(game).__name__, game.rows, game.cols, game.n_in_row)
    return _TABLES.setdefault(key, {})


def _negamax(game: BoardGame, table: dict[bytes, int]) -> int:
    """Score of ``game`` (not finished) for its player to move."""
    key = game.board.tobytes() + bytes((game.to_play,))
    score = table.get(key)
    if score is not None:
        return score
    best = -(10**9)
    for action in game.legal_actions().tolist():
        best = max(best, _child_score(game, action, table))
    table[key] = best
    return best


def _child_score(game: BoardGame, action: int, table: dict[bytes, int]) -> int:
    """Score for the mover of playing ``action`` in ``game``."""
    child = game.copy()
    _, reward, terminated, _, _ = child.step(action)
    if terminated:
        empty = child.rows * child.cols - child.num_moves
        return (1 + empty) if reward > 0 else 0
    return -_negamax(child, table)


class MinimaxPlayer:
    """Plays perfectly: among the moves with the best score it picks one at random.

    Args:
        seed: seed of the tie-breaking generator (``None``: fresh entropy).
        tie_break: ``"score"`` picks among the moves with the best score (fastest win,
            slowest loss); ``"value"`` among all moves with the best game-theoretic value
            (more varied games, still never worse than the position's value).

    Raises:
        ValueError: (on use) the board has more than :data:`MAX_CELLS` cells.

    Example:
        >>> from pipezero.envs.board import TicTacToeEnv
        >>> game = TicTacToeEnv()
        >>> _ = game.reset()
        >>> MinimaxPlayer().value(game)  # TicTacToe is a draw
        0
    """

    name = "minimax"

    def __init__(self, seed: int | None = None, tie_break: str = "value") -> None:
        if tie_break not in ("score", "value"):
            raise ValueError(
                f"MinimaxPlayer: tie_break must be 'score' or 'value', got {tie_break!r}"
            )
        self.rng = np.random.default_rng(seed)
        self.tie_break = tie_break

    @staticmethod
    def _check(game: BoardGame) -> None:
        cells = game.rows * game.cols
        if cells > MAX_CELLS:
            raise ValueError(
                f"MinimaxPlayer solves boards of at most {MAX_CELLS} cells (TicTacToe); got a "
                f"{game.rows}x{game.cols} {type(game).__name__}. Use RuleBot for larger games"
            )
        if game.done:
            raise ValueError(f"MinimaxPlayer: the game is over (winner={game.winner})")

    def action_scores(self, game: BoardGame) -> np.ndarray:
        """``float64 [A]`` score of each action for the player to move, NaN where illegal."""
        self._check(game)
        table = _table(game)
        scores = np.full(game.num_actions, np.nan)
        for action in game.legal_actions().tolist():
            scores[action] = _child_score(game, action, table)
        return scores

    def action_values(self, game: BoardGame) -> np.ndarray:
        """``float64 [A]`` game-theoretic value of each action: 1 win, 0 draw, -1 loss, NaN
        where illegal."""
        return np.sign(self.action_scores(game))

    def value(self, game: BoardGame) -> int:
        """Game-theoretic value of the position for the player to move: 1, 0 or -1."""
        self._check(game)
        return int(np.sign(_negamax(game, _table(game))))

    def act(self, game: BoardGame) -> int:
        """A best move (random among the tied ones)."""
        scores = self.action_scores(game)
        if self.tie_break == "value":
            scores = np.sign(scores)
        best = np.flatnonzero(scores == np.nanmax(scores))
        return int(self.rng.choice(best))
