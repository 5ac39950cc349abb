"""Board games by name, and the opponents that go with them.

``make_game("connect4")`` and ``make_game("gomoku", board_size=9)`` build games;
``make_opponent("rule_bot", seed=0)`` builds a scripted player. The CLI, the recipes and the
benchmark all go through these two functions.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any

from pipezero.envs.board.base import BoardGame
from pipezero.envs.board.bots import RandomPlayer, RuleBot
from pipezero.envs.board.connect4 import Connect4Env
from pipezero.envs.board.gomoku import GomokuEnv
from pipezero.envs.board.minimax import MinimaxPlayer
from pipezero.envs.board.tictactoe import TicTacToeEnv

#: Game name -> class; keyword arguments of :func:`make_game` go to the class.
GAMES: dict[str, type[BoardGame]] = {
    "tictactoe": TicTacToeEnv,
    "connect4": Connect4Env,
    "gomoku": GomokuEnv,
}

#: Opponent name -> factory ``(seed, **kwargs) -> player``.
OPPONENTS: dict[str, Callable[..., Any]] = {
    "random": RandomPlayer,
    "rule_bot": RuleBot,
    "minimax": MinimaxPlayer,
}


def _unknown(kind: str, name: str, valid: dict[str, Any]) -> ValueError:
    close = difflib.get_close_matches(name, list(valid), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown {kind} {name!r}{hint} (known: {', '.join(sorted(valid))})")


def make_game(name: str, **kwargs: Any) -> BoardGame:
    """A fresh, reset game: ``"tictactoe"``, ``"connect4"`` (``rows``, ``cols``,
    ``n_in_row``) or ``"gomoku"`` (``board_size``, ``n_in_row``).

    Raises:
        ValueError: unknown name (the closest known one is suggested) or bad arguments.
    """
    cls = GAMES.get(name)
    if cls is None:
        raise _unknown("game", name, GAMES)
    try:
        game = cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"make_game({name!r}): bad arguments {kwargs}: {err}") from err
    game.reset()
    return game


def game_factory(name: str, **kwargs: Any) -> Callable[[], BoardGame]:
    """A zero-argument function building fresh games (checked once now)."""
    make_game(name, **kwargs)
    return lambda: make_game(name, **kwargs)


def make_opponent(name: str, seed: int | None = None, **kwargs: Any) -> Any:
    """A scripted player: ``"random"``, ``"rule_bot"`` (``randomness``) or ``"minimax"``.

    Raises:
        ValueError: unknown name.
    """
    factory = OPPONENTS.get(name)
    if factory is None:
        raise _unknown("opponent", name, OPPONENTS)
    return factory(seed=seed, **kwargs)


def make_opponents(names: Iterable[str], seed: int) -> dict[str, Any]:
    """Evaluation opponents by name (``battle_eval``): the ``i``-th of ``names`` seeded
    ``seed + 100 + i``, apart from the run's other generators."""
    return {name: make_opponent(name, seed=seed + 100 + i) for i, name in enumerate(names)}
