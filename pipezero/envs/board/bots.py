"""Scripted opponents: a uniformly random player and a rule bot per game.

The rule bot plays, in order: a winning move if it has one; a move that blocks an immediate
win of the opponent; otherwise the legal move with the best game-specific heuristic score,
with ties (and, where ``randomness > 0``, near-ties) broken at random:

- **TicTacToe**: centre, then a corner, then an edge (the classic "win, block, centre,
  corner, edge" bot). It never misses a win or a block but can be forked.
- **Connect4**: never drops a stone right under a cell where the opponent would win; prefers
  central columns and cells that extend its own lines or cut the opponent's.
- **Gomoku**: scores each empty cell near the stones by the lines it makes for itself
  (attack) and would make for the opponent (defence): open fours and threes first.

Line scores (Connect4 and Gomoku): a line of ``L`` stones through the cell is worth
``10 ** (L - 1)``, three times that when both of its ends are open, nothing when both are
blocked.

Every player has ``act(game) -> action``; see :mod:`pipezero.envs.board.arena` for matches.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipezero.envs.board.base import DIRECTIONS, BoardGame


class RandomPlayer:
    """Plays a uniformly random legal move.

    Args:
        seed: seed of its generator (``None``: fresh entropy).
    """

    name = "random"

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, game: BoardGame) -> int:
        """A random legal action of ``game``."""
        return int(self.rng.choice(game.legal_actions()))


def _tictactoe_scores(game: BoardGame, rng: np.random.Generator) -> np.ndarray:
    """Centre 3, corners 2, edges 1."""
    return np.array([2, 1, 2, 1, 3, 1, 2, 1, 2], dtype=np.float64)


def _connect4_scores(game: BoardGame, rng: np.random.Generator) -> np.ndarray:
    """Central columns, own and blocked lines; a large penalty for helping the opponent."""
    me, opponent, cols = game.to_play, 3 - game.to_play, game.cols
    centre = (cols - 1) / 2
    scores = np.full(game.num_actions, -np.inf)
    for action in game.legal_actions().tolist():
        cell = game.cell_of(action)
        score = 4.0 * (centre + 1 - abs(action - centre))
        for dr, dc in DIRECTIONS:
            own, own_open = game.line_run(cell, me, dr, dc)
            theirs, their_open = game.line_run(cell, opponent, dr, dc)
            score += _line_value(own, own_open, game.n_in_row)
            score += 0.8 * _line_value(theirs, their_open, game.n_in_row)
        above = cell - cols
        if above >= 0:  # one move ahead: would this stone let the opponent win on top?
            probe = game.copy()
            probe.board[cell] = me
            if probe.wins_at(above, opponent):
                score -= 1e5
        scores[action] = score
    return scores


def _gomoku_scores(game: BoardGame, rng: np.random.Generator) -> np.ndarray:
    """Pattern scores of the empty cells within two cells of a stone (centre if none)."""
    me, opponent = game.to_play, 3 - game.to_play
    scores = np.full(game.num_actions, -np.inf)
    stones = game.board.reshape(game.rows, game.cols) != 0
    if not stones.any():
        scores[(game.rows // 2) * game.cols + game.cols // 2] = 0.0
        return scores
    near = np.zeros_like(stones)
    rows, cols = np.nonzero(stones)
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        near[max(r - 2, 0) : r + 3, max(c - 2, 0) : c + 3] = True
    candidates = np.flatnonzero(near.reshape(-1) & (game.board == 0))
    for cell in candidates.tolist():
        attack = defence = 0.0
        for dr, dc in DIRECTIONS:
            attack += _line_value(*game.line_run(cell, me, dr, dc), game.n_in_row)
            defence += _line_value(*game.line_run(cell, opponent, dr, dc), game.n_in_row)
        scores[cell] = attack + 0.9 * defence
    return scores


def _line_value(length: int, open_ends: int, n_in_row: int) -> float:
    """Worth of a line of ``length`` stones with ``open_ends`` free ends (0, 1, 2)."""
    if length >= n_in_row:
        return 1e5
    if open_ends == 0:
        return 0.0
    return 10.0 ** (length - 1) * (3.0 if open_ends == 2 else 1.0)


_HEURISTICS: dict[str, Callable[[BoardGame, np.random.Generator], np.ndarray]] = {
    "tictactoe": _tictactoe_scores,
    "connect4": _connect4_scores,
    "gomoku": _gomoku_scores,
}


class RuleBot:
    """Win if possible, else block the opponent's immediate win, else the best heuristic move.

    Args:
        seed: seed of the tie-breaking generator (``None``: fresh entropy).
        randomness: a uniform ``[0, randomness)`` draw is added to the heuristic scores
            before taking the best, so near-equal moves vary between games (0: only exact
            ties are random). The heuristic scales are in the module doc.

    Example:
        >>> from pipezero.envs.board import TicTacToeEnv
        >>> game = TicTacToeEnv()
        >>> _ = game.reset()
        >>> RuleBot(seed=0).act(game)  # the centre
        4
    """

    name = "rule_bot"

    def __init__(self, seed: int | None = None, randomness: float = 0.0) -> None:
        if not randomness >= 0:
            raise ValueError(f"RuleBot: randomness must be >= 0, got {randomness!r}")
        self.rng = np.random.default_rng(seed)
        self.randomness = float(randomness)

    def act(self, game: BoardGame) -> int:
        """The bot's move in ``game`` (whose player to move it plays)."""
        heuristic = _HEURISTICS.get(game.name)
        if heuristic is None:
            raise ValueError(
                f"RuleBot has no heuristic for game {game.name!r} ({type(game).__name__}); "
                f"supported: {sorted(_HEURISTICS)}"
            )
        for player in (game.to_play, 3 - game.to_play):  # win, else block
            urgent = game.winning_actions(player)
            if urgent:
                return int(self.rng.choice(urgent))
        scores = heuristic(game, self.rng)
        legal = game.legal_actions_mask()
        scores = np.where(legal, scores, -np.inf)
        if self.randomness > 0:
            scores = scores + self.rng.uniform(0.0, self.randomness, size=scores.shape)
        best = np.flatnonzero(scores >= scores.max() - 1e-9)
        if not np.isfinite(scores.max()):
            best = np.flatnonzero(legal)
        return int(self.rng.choice(best))
