"""Scripted players: minimax on known positions, rule bots win and block, matches per side."""

from __future__ import annotations

import numpy as np
import pytest

from pipezero.envs.board import (
    BoardGame,
    MinimaxPlayer,
    RandomPlayer,
    RuleBot,
    game_factory,
    make_game,
    make_opponent,
    play_match,
)


def position(name: str, moves: list[int], **kwargs: int) -> BoardGame:
    game = make_game(name, **kwargs)
    for move in moves:
        game.step(move)
    return game


def values(moves: list[int]) -> list[float]:
    out = MinimaxPlayer(seed=0).action_values(position("tictactoe", moves))
    return [-9 if np.isnan(v) else int(v) for v in out]


def test_minimax_knows_the_theory_of_tictactoe() -> None:
    # Every first move draws with perfect play.
    assert values([]) == [0] * 9
    assert MinimaxPlayer().value(position("tictactoe", [])) == 0
    # Against a centre opening, the edges lose and the corners draw.
    assert values([4]) == [0, -1, 0, -1, -9, -1, 0, -1, 0]
    # X corner, O adjacent edge: X wins with 3, 4 or 6.
    assert values([0, 1]) == [-9, -9, 0, 1, 1, 0, 1, 0, 0]
    # X corner, O centre, X opposite corner: O must answer on an edge.
    assert values([0, 4, 8]) == [-9, 0, -1, 0, -9, 0, -1, 0, -9]
    # O must block at 2, anything else loses.
    assert values([0, 4, 1]) == [-9, -9, 0, -1, -9, -1, -1, -1, -1]


def test_minimax_takes_the_fastest_win_and_rejects_big_boards() -> None:
    game = position("tictactoe", [0, 3, 1, 4])  # X wins at once with 2
    scores = MinimaxPlayer().action_scores(game)
    assert np.nanargmax(scores) == 2 and scores[2] == 5  # 1 + four empty cells left
    assert MinimaxPlayer(tie_break="score").act(game) == 2
    assert MinimaxPlayer(seed=1).act(game) in (2, 5)  # "value": any move that still wins
    with pytest.raises(ValueError, match=r"at most 12 cells.*6x7 Connect4Env.*RuleBot"):
        MinimaxPlayer().act(make_game("connect4"))


def test_minimax_never_loses_and_draws_itself() -> None:
    make = game_factory("tictactoe")
    result = play_match(make, MinimaxPlayer(seed=0), RandomPlayer(seed=1), 60)
    assert result.total.losses == 0 and result.total.wins > 30
    result = play_match(make, MinimaxPlayer(seed=2), MinimaxPlayer(seed=3), 10)
    assert result.total.draws == 10


@pytest.mark.parametrize(
    ("name", "moves", "kwargs", "win"),
    [
        ("tictactoe", [0, 3, 1, 4], {}, 2),  # X completes the top row
        ("connect4", [0, 6, 1, 6, 2, 6], {}, 3),  # X completes the bottom row
        ("gomoku", [0, 50, 1, 51, 2, 52, 3, 53], {"board_size": 9}, 4),
    ],
)
def test_rule_bot_wins_when_it_can_and_prefers_winning_to_blocking(
    name: str, moves: list[int], kwargs: dict, win: int
) -> None:
    game = position(name, moves, **kwargs)
    assert game.winning_actions(3 - game.to_play), "the opponent should threaten too"
    for seed in range(5):
        assert RuleBot(seed=seed).act(game) == win


@pytest.mark.parametrize(
    ("name", "moves", "kwargs", "block"),
    [
        ("tictactoe", [0, 4, 1], {}, 2),
        ("connect4", [3, 0, 3, 0, 3], {}, 3),  # X has three in column 3
        ("gomoku", [40, 0, 41, 10, 42, 70, 43], {"board_size": 9}, None),  # open four: lost
        ("gomoku", [40, 44, 41, 0, 42, 10, 43], {"board_size": 9}, 39),
    ],
)
def test_rule_bot_blocks_an_immediate_win(
    name: str, moves: list[int], kwargs: dict, block: int | None
) -> None:
    game = position(name, moves, **kwargs)
    threats = game.winning_actions(3 - game.to_play)
    assert threats and not game.winning_actions(game.to_play)
    action = RuleBot(seed=0).act(game)
    assert action in threats
    if block is not None:
        assert action == block


def test_rule_bot_heuristics() -> None:
    assert RuleBot(seed=0).act(make_game("tictactoe")) == 4  # centre first
    corner_game = position("tictactoe", [4])
    assert {RuleBot(seed=s).act(corner_game) for s in range(20)} <= {0, 2, 6, 8}
    # Connect4: X's three in row 4 wins at (4, 1) or (4, 5) once those cells are playable.
    # Dropping a stone into column 1 or 5 would make them playable: the bot never does.
    rows = ["......."] * 4 + ["..XXX..", "..OOX.O"]
    board = np.array([".XO".index(ch) for row in rows for ch in row], dtype=np.int8)
    game = make_game("connect4")
    game.set_state(np.concatenate([board, np.array([2, -1], dtype=np.int8)]))
    assert game.winning_actions(1) == [] and game.to_play == 2
    for seed in range(10):
        assert RuleBot(seed=seed, randomness=3.0).act(game) not in (1, 5)
    # Gomoku: the first move is the centre; it extends its own open three to a four.
    assert RuleBot(seed=0).act(make_game("gomoku", board_size=9)) == 40
    game = position("gomoku", [40, 0, 41, 80, 42, 8], board_size=9)
    assert RuleBot(seed=0).act(game) in (39, 43)
    with pytest.raises(ValueError, match="unknown opponent 'minmax'; did you mean 'minimax'"):
        make_opponent("minmax")


def test_play_match_counts_wins_draws_and_losses_per_side() -> None:
    make = game_factory("connect4")
    result = play_match(make, RuleBot(seed=0), RandomPlayer(seed=0), 9)
    assert result.as_first.games == 5 and result.as_second.games == 4
    assert result.total.wins >= 8
    summary = result.to_dict()
    assert summary["games"] == 9 and summary["as_first"]["games"] == 5
    assert summary["win_rate"] == pytest.approx(result.total.wins / 9)
    assert result.score == pytest.approx((result.total.wins - result.total.losses) / 9)
    flipped = play_match(make, RandomPlayer(seed=0), RuleBot(seed=0), 6, sides="second")
    assert flipped.as_first.games == 0 and flipped.as_second.games == 6
    assert flipped.total.losses >= 5
    assert "vs rule_bot" in str(flipped)
    with pytest.raises(ValueError, match="num_games must be an int >= 1, got 0"):
        play_match(make, RandomPlayer(), RandomPlayer(), 0)
