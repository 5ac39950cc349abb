"""2048 rules: slides and merges, legal moves, chance outcomes, the gymnasium form."""

from __future__ import annotations

import numpy as np
import pytest

from pipezero.envs import BatchEnv, GymAdapter
from pipezero.envs.game2048 import (
    CHANCE_SPACE_SIZE,
    DOWN,
    ENV_ID,
    LEFT,
    RIGHT,
    UP,
    Game2048,
    Game2048Env,
    all_afterstates,
    apply_chance,
    chance_code,
    chance_probabilities,
    encode_board,
    legal_actions_mask,
)


def exps(values):
    """Tile values -> exponents (0 stays empty)."""
    v = np.asarray(values, dtype=np.int64)
    return np.where(v > 0, np.log2(np.maximum(v, 1)), 0).astype(np.uint8)


def values(board):
    return np.where(board > 0, 2 ** board.astype(np.int64), 0)


def slide_row_left(row):
    board = np.zeros((4, 4), dtype=np.uint8)
    board[0] = exps(row)
    after, reward = Game2048.afterstate(board, LEFT)
    return values(after)[0].tolist(), reward


@pytest.mark.parametrize(
    ("row", "expected", "reward"),
    [
        ([2, 2, 2, 2], [4, 4, 0, 0], 8),
        ([4, 4, 8, 0], [8, 8, 0, 0], 8),  # the new 8 does not merge again in the same move
        ([2, 2, 4, 0], [4, 4, 0, 0], 4),
        ([0, 2, 0, 2], [4, 0, 0, 0], 4),
        ([2, 0, 0, 4], [2, 4, 0, 0], 0),
        ([8, 8, 8, 0], [16, 8, 0, 0], 16),  # the leading pair merges first
        ([2, 4, 8, 16], [2, 4, 8, 16], 0),
        ([1024, 1024, 2, 2], [2048, 4, 0, 0], 2052),
    ],
)
def test_slide_and_merge_rules(row, expected, reward):
    assert slide_row_left(row) == (expected, reward)


def test_every_direction_and_its_reward():
    board = exps([[2, 2, 0, 0], [0, 0, 0, 0], [2, 0, 0, 0], [4, 0, 0, 4]])
    after, rewards, legal = all_afterstates(board)
    assert values(after[LEFT]).tolist() == [[4, 0, 0, 0], [0] * 4, [2, 0, 0, 0], [8, 0, 0, 0]]
    assert values(after[RIGHT]).tolist() == [[0, 0, 0, 4], [0] * 4, [0, 0, 0, 2], [0, 0, 0, 8]]
    assert values(after[UP]).tolist() == [[4, 2, 0, 4], [4, 0, 0, 0], [0] * 4, [0] * 4]
    assert values(after[DOWN]).tolist() == [[0] * 4, [0] * 4, [4, 0, 0, 0], [4, 2, 0, 4]]
    assert rewards.tolist() == [4, 12, 4, 12]
    assert legal.all()


def test_legal_mask_marks_moves_that_change_nothing():
    board = exps([[2, 4, 8, 16], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    assert legal_actions_mask(board).tolist() == [False, False, True, False]
    full = exps([[2, 4, 2, 4], [4, 2, 4, 2], [2, 4, 2, 4], [4, 2, 4, 2]])
    assert not legal_actions_mask(full).any()


def test_chance_probabilities_sum_to_one_and_match_the_outcomes():
    board = exps([[2, 0, 0, 0], [0, 4, 0, 0], [0, 0, 8, 0], [0, 0, 0, 16]])
    probs = chance_probabilities(board)
    assert probs.shape == (CHANCE_SPACE_SIZE,)
    assert probs.sum() == pytest.approx(1.0)
    assert probs[0] == 0.0 and probs[1] == 0.0  # cell 0 is occupied
    assert probs[2] == pytest.approx(0.9 / 12) and probs[3] == pytest.approx(0.1 / 12)
    outcomes = Game2048.chance_outcomes(board)
    assert len(outcomes) == 24
    assert sum(p for p, _, _ in outcomes) == pytest.approx(1.0)
    for p, code, nxt in outcomes:
        assert (nxt != board).sum() == 1 and chance_code(board, nxt) == code
        assert p == probs[code]
    assert chance_probabilities(np.ones((4, 4), np.uint8)).sum() == 0.0


def test_apply_chance_rejects_occupied_cells():
    with pytest.raises(ValueError, match="not empty"):
        apply_chance(exps([[2, 0, 0, 0]] + [[0] * 4] * 3), 1)


def test_spawn_frequencies_follow_the_rules():
    game = Game2048(seed=0)
    board = np.zeros((4, 4), np.uint8)
    board[0, 0] = 1
    codes = np.array([game.sample_chance(board) for _ in range(6000)])
    fours = (codes % 2 == 1).mean()
    assert 0.08 < fours < 0.12
    cells = np.bincount(codes // 2, minlength=16)
    assert cells[0] == 0 and cells[1:].min() > 6000 / 15 * 0.7


def test_game_step_adds_one_tile_and_scores_merges():
    game = Game2048(seed=1)
    game.set_board(exps([[2, 2, 0, 0], [0] * 4, [0] * 4, [0] * 4]))
    reward, over = game.step(LEFT)
    assert reward == 4 and not over and game.score == 4
    assert (game.board > 0).sum() == 2  # the merged 4 and the spawned tile
    with pytest.raises(ValueError, match="does not change the board"):
        game.set_board(exps([[2, 4, 8, 16], [0] * 4, [0] * 4, [0] * 4]))
        game.step(UP)


def test_encode_board_is_one_hot_planes():
    board = exps([[2, 0, 0, 0], [0, 4, 0, 0], [0] * 4, [0] * 4])
    planes = encode_board(board)
    assert planes.shape == (16, 4, 4) and planes.dtype == np.float32
    assert (planes.sum(0) == 1).all()
    assert planes[1, 0, 0] == 1 and planes[2, 1, 1] == 1 and planes[0, 3, 3] == 1


def test_gym_env_through_batch_env_with_masks():
    envs = BatchEnv.make(ENV_ID, num_envs=3, seed=0)
    obs = envs.reset()
    assert obs.observation.shape == (3, 16, 4, 4) and obs.action_mask.shape == (3, 4)
    rng = np.random.default_rng(0)
    finished = []
    for _ in range(400):
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in obs.action_mask])
        step = envs.step(actions)
        obs = step.obs
        finished += [stats for _, stats in step.episodes]
        assert (step.reward >= 0).all()
    assert finished and all(s.terminated and s.episode_return > 0 for s in finished)


def test_gym_env_treats_a_masked_move_as_a_no_op():
    adapter = GymAdapter(Game2048Env(), seed=0)
    first = adapter.reset()
    env = adapter.env.unwrapped
    env.game.set_board(exps([[2, 4, 8, 16], [0] * 4, [0] * 4, [0] * 4]))
    result = adapter.step(UP)
    assert result.reward == 0.0 and result.info["illegal_move"] and not result.done
    assert first.observation.shape == (16, 4, 4)
