"""Board game rules: wins on every line, draws, illegal moves, copies, symmetries, signs."""

from __future__ import annotations

import numpy as np
import pytest

from pipezero.envs.board import Connect4Env, GomokuEnv, TicTacToeEnv, make_game
from pipezero.envs.board.base import DIRECTIONS

CONNECT4_DRAW = "555054466351352123041430222100021613443666"
GOMOKU6_DRAW = [25, 21, 1, 3, 14, 30, 15, 28, 10, 8, 29, 32, 2, 4, 23, 13, 20, 6, 33, 17]
GOMOKU6_DRAW += [34, 26, 22, 7, 27, 0, 18, 12, 35, 9, 31, 5, 19, 16, 24, 11]


def windows(rows: int, cols: int, k: int) -> list[list[int]]:
    """Every run of k cells in a row (all directions) on a rows x cols board."""
    out = []
    for r in range(rows):
        for c in range(cols):
            for dr, dc in DIRECTIONS:
                cells = [(r + i * dr, c + i * dc) for i in range(k)]
                if all(0 <= rr < rows and 0 <= cc < cols for rr, cc in cells):
                    out.append([rr * cols + cc for rr, cc in cells])
    return out


def test_window_counts_match_the_known_numbers_of_lines() -> None:
    assert len(windows(3, 3, 3)) == 8
    assert len(windows(6, 7, 4)) == 69
    assert len(windows(15, 15, 5)) == 572


@pytest.mark.parametrize("player", [1, 2])
def test_tictactoe_every_line_wins_for_either_player(player: int) -> None:
    for line in windows(3, 3, 3):
        env = TicTacToeEnv()
        board = np.zeros(11, dtype=np.int8)
        board[list(line[:2])] = player
        board[9], board[10] = player, -1
        env.set_state(board)
        _, reward, terminated, _, info = env.step(line[2])
        assert (reward, terminated, info["winner"]) == (1.0, True, player), line
        assert env.to_play == 3 - player


def gravity_board(cells: list[int], player: int, rows: int, cols: int) -> np.ndarray:
    """Stones of `player` on `cells`, every cell under them filled with the other player."""
    board = np.zeros(rows * cols, dtype=np.int8)
    for cell in cells:
        r, c = divmod(cell, cols)
        for below in range(r + 1, rows):
            if board[below * cols + c] == 0:
                board[below * cols + c] = 3 - player
        board[cell] = player
    return board


def test_connect4_every_line_wins_by_dropping_the_last_stone() -> None:
    rows, cols = 6, 7
    for line in windows(rows, cols, 4):
        for missing in line:
            others = [c for c in line if c != missing]
            board = gravity_board(others, 1, rows, cols)
            r, c = divmod(missing, cols)
            for below in range(r + 1, rows):  # make the missing cell the landing cell
                if board[below * cols + c] == 0:
                    board[below * cols + c] = 2
            if board[missing] != 0:  # a vertical line only completes at its top
                continue
            env = Connect4Env()
            env.set_state(np.concatenate([board, np.array([1, -1], dtype=np.int8)]))
            assert env.cell_of(c) == missing
            _, reward, terminated, _, _ = env.step(c)
            assert (reward, terminated, env.winner) == (1.0, True, 1), (line, missing)


def test_connect4_three_in_a_row_does_not_win_and_wins_at_matches() -> None:
    env = Connect4Env()
    env.reset()
    for line in windows(6, 7, 4):
        board = np.zeros(42, dtype=np.int8)
        board[line[:3]] = 1
        env.board = board
        assert env.wins_at(line[3], 1) and not env.wins_at(line[3], 2)
        board[line[0]] = 2
        assert not env.wins_at(line[3], 1)


def test_gomoku_every_line_of_five_wins_and_four_or_a_broken_line_do_not() -> None:
    for line in windows(9, 9, 5):
        env = GomokuEnv(board_size=9)
        board = np.zeros(83, dtype=np.int8)
        board[line[:4]] = 2
        board[81], board[82] = 2, -1
        env.set_state(board)
        _, reward, terminated, _, _ = env.step(line[4])
        assert (reward, terminated, env.winner) == (1.0, True, 2)
    env = GomokuEnv(board_size=9)
    env.reset()
    for move in (0, 80, 1, 79, 2, 78, 3):  # four in a row only
        env.step(move)
    assert env.winner is None
    env.step(40)  # player 2 elsewhere
    env.step(5)  # a gap at 4: 0-1-2-3 . 5 is no five
    assert env.winner is None
    env.step(60)
    _, reward, terminated, _, _ = env.step(4)  # fills the gap: six in a row also wins
    assert (reward, terminated, env.winner) == (1.0, True, 1)


def test_full_boards_without_a_line_are_draws() -> None:
    env = make_game("connect4")
    steps = [env.step(int(m)) for m in CONNECT4_DRAW]
    assert env.winner == 0 and env.done and steps[-1][1:3] == (0.0, True)
    assert all(s[1] == 0.0 for s in steps)
    assert not env.legal_actions_mask().any()
    env = make_game("gomoku", board_size=6)
    steps = [env.step(m) for m in GOMOKU6_DRAW]
    assert env.winner == 0 and steps[-1][2]
    env = make_game("tictactoe")
    for m in (0, 1, 2, 4, 3, 5, 7, 6, 8):
        env.step(m)
    assert env.winner == 0


def test_illegal_moves_are_rejected_with_clear_errors() -> None:
    env = make_game("connect4", rows=2, cols=3, n_in_row=3)
    env.step(1)
    env.step(1)
    with pytest.raises(
        ValueError, match=r"action 1 is illegal, column 1 is full; legal actions are \[0, 2\]"
    ):
        env.step(1)
    with pytest.raises(ValueError, match=r"must be in \[0, 3\), got 3"):
        env.step(3)
    with pytest.raises(ValueError, match="must be an int"):
        env.step("2")  # type: ignore[arg-type]
    gomoku = make_game("gomoku", board_size=6)
    gomoku.step(7)
    with pytest.raises(ValueError, match="action 7 is illegal, the cell is taken by player 1"):
        gomoku.step(7)
    gomoku.step(35)
    for move in (0, 6, 1, 12, 2, 18, 3, 24):
        gomoku.step(move)
    assert gomoku.winner is None
    gomoku.step(4)
    assert gomoku.winner == 1
    with pytest.raises(
        RuntimeError, match=r"GomokuEnv.step: the game is over \(winner=1\); call reset"
    ):
        gomoku.step(30)
    with pytest.raises(ValueError, match="board_size must be an int from 6 to 19, got 5"):
        GomokuEnv(board_size=5)
    with pytest.raises(ValueError, match="unknown game 'conect4'; did you mean 'connect4'"):
        make_game("conect4")


@pytest.mark.parametrize("name", ["tictactoe", "connect4", "gomoku"])
def test_copy_and_restore_are_independent(name: str) -> None:
    env = make_game(name, **({"board_size": 7} if name == "gomoku" else {}))
    for move in env.legal_actions()[:3].tolist():
        env.step(int(move))
    snapshot = env.get_state()
    clone = env.copy()
    clone.step(int(clone.legal_actions()[-1]))
    assert np.array_equal(env.get_state(), snapshot), "stepping a copy changed the original"
    env.step(int(env.legal_actions()[0]))
    assert clone.num_moves == env.num_moves == 4
    assert not np.array_equal(env.board, clone.board)
    restored = make_game(name, **({"board_size": 7} if name == "gomoku" else {}))
    restored.set_state(clone.get_state())
    assert np.array_equal(restored.get_state(), clone.get_state())
    assert np.array_equal(restored.legal_actions_mask(), clone.legal_actions_mask())
    assert np.array_equal(restored.observation(), clone.observation())
    move = int(restored.legal_actions()[0])
    assert restored.step(move)[1:3] == clone.copy().step(move)[1:3]


def test_connect4_heights_are_copied_and_rebuilt() -> None:
    env = make_game("connect4")
    env.step(3)
    clone = env.copy()
    clone.step(3)
    assert env.heights[3] == 1 and clone.heights[3] == 2
    other = Connect4Env()
    other.set_state(clone.get_state())
    assert other.heights.tolist() == clone.heights.tolist()
    assert other.cell_of(3) == 3 * 7 + 3
    floating = np.zeros(44, dtype=np.int8)
    floating[0], floating[42] = 1, 2  # a stone in the top row of an empty column
    with pytest.raises(ValueError, match="floating stone"):
        other.set_state(floating)


def test_observation_and_outcome_sign_follow_the_player_to_move() -> None:
    env = make_game("connect4")
    env.step(0)  # X at the bottom left
    obs = env.observation()
    assert obs.shape == (3, 6, 7) and obs.dtype == np.float32
    assert obs[1, 5, 0] == 1 and obs[0].sum() == 0 and obs[2].max() == 0  # O to move
    env = make_game("tictactoe")
    rewards, movers = [], []
    for move in (0, 3, 1, 4, 2):
        movers.append(env.to_play)
        rewards.append(env.step(move)[1])
    # The winning move's reward is the mover's (+1); from each player's point of view the
    # outcome is +1 for the winner's positions and -1 for the loser's.
    outcome = {
        p: sum(r if m == p else -r for r, m in zip(rewards, movers, strict=True)) for p in (1, 2)
    }
    assert rewards[-1] == 1.0 and env.winner == 1 and outcome == {1: 1.0, 2: -1.0}


@pytest.mark.parametrize("name", ["tictactoe", "connect4", "gomoku"])
def test_symmetries_map_lines_to_lines_and_keep_legal_moves(name: str) -> None:
    env = make_game(name, **({"board_size": 6} if name == "gomoku" else {}))
    cells, actions = env.symmetries()
    assert len(cells) == (2 if name == "connect4" else 8)
    assert (cells[0] == np.arange(env.rows * env.cols)).all()
    assert (actions[0] == np.arange(env.num_actions)).all()
    rng = np.random.default_rng(0)
    for _ in range(5):
        env.step(int(rng.choice(env.legal_actions())))
    for g in range(len(cells)):
        moved = env.copy()
        moved.board = env.board[cells[g]]
        moved._restored()
        # a legal move of the transformed board is the transformed legal move
        assert np.array_equal(moved.legal_actions_mask(), env.legal_actions_mask()[actions[g]])
        assert sorted(cells[g].tolist()) == list(range(env.rows * env.cols))
