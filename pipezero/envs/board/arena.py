"""Matches between players: many games in lockstep, results per side.

A *player* is anything with ``act(game) -> action`` (bots, the minimax player, a person at the
terminal). Players that search a whole batch at once (the trained agents) may also define
``act_batch(games) -> [n] actions``; :func:`play_games` then asks them once per round for all
the games where they are to move.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from pipezero.envs.board.base import BoardGame


@runtime_checkable
class Player(Protocol):
    """Chooses moves: ``act(game) -> action`` for the player to move in ``game``."""

    def act(self, game: BoardGame) -> int: ...


def choose_actions(player: Player, games: Sequence[BoardGame]) -> np.ndarray:
    """``int64 [n]`` moves of ``player`` in each game (one ``act_batch`` call if it has one)."""
    act_batch = getattr(player, "act_batch", None)
    if act_batch is not None:
        actions = np.asarray(act_batch(list(games)), dtype=np.int64).reshape(-1)
        if actions.shape != (len(games),):
            raise ValueError(
                f"{type(player).__name__}.act_batch must return one action per game "
                f"({len(games)}), got shape {list(actions.shape)}"
            )
        return actions
    return np.array([player.act(g) for g in games], dtype=np.int64)


def play_games(games: Sequence[BoardGame], first: Player, second: Player) -> list[int]:
    """Play fresh games to the end, ``first`` as player 1 and ``second`` as player 2.

    The games advance in lockstep: each round, every player moves in all the games where it
    is to move (so batched players search them together).

    Args:
        games: reset games (player 1 to move); they are played in place.

    Returns:
        The winner of each game: 1, 2, or 0 for a draw.
    """
    players = {1: first, 2: second}
    while True:
        live = [g for g in games if not g.done]
        if not live:
            return [int(g.winner) for g in games]  # type: ignore[arg-type]
        for pid in (1, 2):
            to_move = [g for g in live if not g.done and g.to_play == pid]
            if to_move:
                for game, action in zip(
                    to_move, choose_actions(players[pid], to_move), strict=True
                ):
                    game.step(int(action))


@dataclass
class SideStats:
    """Results of the games played on one side (first or second)."""

    wins: int = 0
    draws: int = 0
    losses: int = 0

    @property
    def games(self) -> int:
        """Games played on this side."""
        return self.wins + self.draws + self.losses

    def rates(self) -> dict[str, float]:
        """``win_rate``, ``draw_rate``, ``loss_rate`` (0 when no game was played)."""
        n = max(self.games, 1)
        return {
            "win_rate": self.wins / n,
            "draw_rate": self.draws / n,
            "loss_rate": self.losses / n,
        }


@dataclass
class MatchResult:
    """An agent's results against one opponent, per side and in total.

    Attributes:
        opponent: the opponent's name.
        as_first: results of the games where the agent moved first (player 1).
        as_second: results where it moved second (player 2).
    """

    opponent: str
    as_first: SideStats = field(default_factory=SideStats)
    as_second: SideStats = field(default_factory=SideStats)

    @property
    def total(self) -> SideStats:
        """Both sides together."""
        return SideStats(
            self.as_first.wins + self.as_second.wins,
            self.as_first.draws + self.as_second.draws,
            self.as_first.losses + self.as_second.losses,
        )

    @property
    def score(self) -> float:
        """Mean game result from the agent's view: win 1, draw 0, loss -1."""
        total = self.total
        return (total.wins - total.losses) / max(total.games, 1)

    def to_dict(self) -> dict[str, Any]:
        """Flat numbers for logs and JSON: totals, rates, and the same per side."""
        total = self.total
        out: dict[str, Any] = {"games": total.games, "score": self.score, **total.rates()}
        out.update(wins=total.wins, draws=total.draws, losses=total.losses)
        for side, stats in (("as_first", self.as_first), ("as_second", self.as_second)):
            out[side] = {
                "games": stats.games,
                "wins": stats.wins,
                "draws": stats.draws,
                "losses": stats.losses,
                **stats.rates(),
            }
        return out

    def __str__(self) -> str:
        f, s = self.as_first, self.as_second
        return (
            f"vs {self.opponent}: W/D/L as first {f.wins}/{f.draws}/{f.losses}, "
            f"as second {s.wins}/{s.draws}/{s.losses}"
        )


def play_match(
    make_game: Callable[[], BoardGame],
    agent: Player,
    opponent: Player,
    num_games: int,
    *,
    opponent_name: str | None = None,
    sides: str = "both",
) -> MatchResult:
    """Play ``num_games`` games of ``agent`` against ``opponent``.

    Args:
        make_game: builds a fresh game (it is reset here).
        agent: the player whose results are counted.
        opponent: its opponent.
        num_games: games in all; with ``sides="both"`` the agent moves first in
            ``ceil(num_games / 2)`` of them and second in the rest.
        opponent_name: name in the result (default: ``opponent.name`` or its class name).
        sides: ``"both"``, ``"first"`` (the agent always moves first) or ``"second"``.

    Returns:
        A :class:`MatchResult` with wins / draws / losses per side.
    """
    if isinstance(num_games, bool) or not isinstance(num_games, int) or num_games < 1:
        raise ValueError(f"play_match: num_games must be an int >= 1, got {num_games!r}")
    if sides not in ("both", "first", "second"):
        raise ValueError(f"play_match: sides must be 'both', 'first' or 'second', got {sides!r}")
    num_first = {"both": (num_games + 1) // 2, "first": num_games, "second": 0}[sides]
    name = opponent_name or getattr(opponent, "name", type(opponent).__name__)
    result = MatchResult(opponent=name)
    for agent_first, count in ((True, num_first), (False, num_games - num_first)):
        if count == 0:
            continue
        games = [make_game() for _ in range(count)]
        for game in games:
            game.reset()
        first, second = (agent, opponent) if agent_first else (opponent, agent)
        stats = result.as_first if agent_first else result.as_second
        agent_id = 1 if agent_first else 2
        for winner in play_games(games, first, second):
            if winner == 0:
                stats.draws += 1
            elif winner == agent_id:
                stats.wins += 1
            else:
                stats.losses += 1
    return result
