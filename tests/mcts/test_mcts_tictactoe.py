"""TicTacToeEnv: rules, masks, players, errors and cheap copies."""

from __future__ import annotations

import numpy as np
import pytest

from pipezero.envs.board import TicTacToeEnv


def play(moves: list[int]) -> tuple[TicTacToeEnv, list[tuple]]:
    env = TicTacToeEnv()
    env.reset()
    return env, [env.step(m) for m in moves]


def test_first_player_wins_on_a_row() -> None:
    env, steps = play([0, 3, 1, 4, 2])
    _obs, reward, terminated, truncated, info = steps[-1]
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert env.winner == 1 and info["winner"] == 1 and env.done
    assert not env.legal_actions_mask().any()
    assert [s[1] for s in steps[:-1]] == [0.0] * 4


def test_second_player_wins_on_a_diagonal_and_draws_are_zero() -> None:
    env, steps = play([0, 2, 1, 4, 3, 6])
    assert env.winner == 2 and steps[-1][1] == 1.0
    env, steps = play([0, 1, 2, 4, 3, 5, 7, 6, 8])
    assert env.winner == 0 and steps[-1][1:3] == (0.0, True)


def test_mask_to_play_and_observation_follow_the_mover() -> None:
    env, _ = play([4])
    assert env.to_play == 2
    mask = env.legal_actions_mask()
    assert mask.dtype == np.bool_ and not mask[4] and mask.sum() == 8
    assert env.legal_actions().tolist() == [0, 1, 2, 3, 5, 6, 7, 8]
    obs = env.observation()
    assert obs.shape == (3, 3, 3) and obs.dtype == np.float32
    assert obs[1, 1, 1] == 1 and obs[0].sum() == 0 and obs[2].sum() == 0  # O to move


def test_illegal_moves_raise_clear_errors() -> None:
    env, _ = play([4])
    with pytest.raises(
        ValueError,
        match=r"action 4 is illegal, the cell is taken by player 1; legal actions are \[0, 1",
    ):
        env.step(4)
    with pytest.raises(ValueError, match=r"must be in \[0, 9\), got 9"):
        env.step(9)
    with pytest.raises(ValueError, match="must be an int"):
        env.step(1.5)  # type: ignore[arg-type]
    env, _ = play([0, 3, 1, 4, 2])
    with pytest.raises(RuntimeError, match=r"game is over.*reset"):
        env.step(5)


def test_copy_and_state_restore_are_independent() -> None:
    env, _ = play([0, 4])
    clone = env.copy()
    clone.step(8)
    assert env.board[8] == 0 and env.to_play == 1 and clone.to_play == 2
    state = clone.get_state()
    env.set_state(state)
    assert env.board.tolist() == clone.board.tolist() and env.to_play == clone.to_play
    env.step(1)
    assert clone.board[1] == 0
    with pytest.raises(ValueError, match="expected shape"):
        env.set_state(np.zeros(3))
    assert env.render().splitlines() == ["XO.", ".O.", "..X"]
