"""Board-symmetry augmentation: 2048's symmetries and augmented MuZero batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_stochastic_policy import MODEL, POLICY, fill_buffer, make_policy

from pipezero.envs.game2048 import Game2048, all_afterstates, symmetries
from pipezero.model.stochastic import StochasticMuZeroMLP
from pipezero.policy.augment import augment_batch, check_symmetries
from pipezero.policy.stochastic_muzero import StochasticMuZeroPolicy


def boards_of(obs: np.ndarray) -> np.ndarray:
    """``[..., 16, 4, 4]`` one-hot planes -> ``[..., 4, 4]`` exponents."""
    return obs.argmax(-3).astype(np.uint8)


def test_2048_symmetries_map_moves_rewards_and_legality():
    cells, actions = symmetries()
    assert cells.shape == (8, 16) and actions.shape == (8, 4)
    assert (cells[0] == np.arange(16)).all() and (actions[0] == np.arange(4)).all()
    assert len({tuple(row) for row in cells}) == 8
    rng = np.random.default_rng(0)
    for _ in range(100):
        board = rng.integers(0, 5, size=16).astype(np.uint8)
        after, rewards, legal = all_afterstates(board.reshape(4, 4))
        for g in range(8):
            view = board[cells[g]].reshape(4, 4)
            v_after, v_rewards, v_legal = all_afterstates(view)
            original = actions[g]  # move a on the view is move original[a] on the board
            assert (v_rewards == rewards[original]).all()
            assert (v_legal == legal[original]).all()
            for a in range(4):
                assert (v_after[a].reshape(-1) == after[original[a]].reshape(-1)[cells[g]]).all()


def test_augmented_batch_is_a_consistent_game():
    """Every augmented row is still a 2048 trajectory: each stored (augmented) move turns the
    (augmented) board into the next one up to one spawned tile, with the stored reward, and
    the policy and legal-move targets moved with the moves."""
    policy = make_policy()
    batch = fill_buffer(policy, steps=60).sample(32, with_unroll_obs=True)
    aug = augment_batch(batch, symmetries(), np.random.default_rng(1))
    assert aug.obs.shape == batch.obs.shape and aug.actions.dtype == np.int64
    cells, perms = symmetries()
    boards = boards_of(np.concatenate([aug.obs[:, None], aug.unroll_obs], 1))
    orig = boards_of(np.concatenate([batch.obs[:, None], batch.unroll_obs], 1))
    b, k1 = boards.shape[:2]
    boards_flat, orig_flat = boards.reshape(b, k1, 16), orig.reshape(b, k1, 16)
    moved = 0
    for row in range(b):
        # The symmetries mapping the row's original boards onto the augmented ones (several
        # when the boards are symmetric); the targets and moves moved with one of them.
        found = [
            g
            for g in range(8)
            if (orig_flat[row][:, cells[g]] == boards_flat[row]).all()
            and (aug.target_policy[row] == batch.target_policy[row][:, perms[g]]).all()
            and (aug.action_masks[row] == batch.action_masks[row][:, perms[g]]).all()
            and (perms[g][aug.actions[row]] == batch.actions[row]).all()
        ]
        assert found, f"row {row}: no symmetry explains the augmented row"
        for k in range(aug.actions.shape[1]):
            if not batch.policy_mask[row, k + 1] or not batch.unroll_obs_mask[row, k]:
                continue  # past the episode's end: padding
            a = int(aug.actions[row, k])
            after, reward = Game2048.afterstate(boards[row, k], a)
            spawned = boards[row, k + 1].astype(int) - after.astype(int)
            assert np.count_nonzero(spawned) == 1 and spawned.max() in (1, 2)
            assert reward == batch.rewards[row, k]
            moved += 1
    assert moved > 30
    for same in ("rewards", "reward_sum", "weights", "bootstrap_obs", "unroll_mask"):
        assert getattr(aug, same) is getattr(batch, same), same


def test_policy_learns_on_augmented_batches():
    cfg = dict(POLICY, use_augmentation=True)
    torch.manual_seed(0)
    model = StochasticMuZeroMLP((16, 4, 4), 4, **MODEL)
    policy = StochasticMuZeroPolicy(cfg, model, seed=0, symmetries=symmetries())
    batch = fill_buffer(policy).sample(32, with_unroll_obs=True)
    results = [policy.learn(batch) for _ in range(20)]
    assert not any(r.skipped for r in results)
    assert results[-1].info["total_loss"] < results[0].info["total_loss"]
    actor = policy.acting_copy(5)  # acting copies keep the symmetries
    assert actor.symmetries is policy.symmetries


def test_augmentation_errors_name_the_fix():
    model = StochasticMuZeroMLP((16, 4, 4), 4, **MODEL)
    with pytest.raises(ValueError, match=r"symmetries=game\.symmetries"):
        StochasticMuZeroPolicy(dict(POLICY, use_augmentation=True), model)
    cells, actions = symmetries()
    with pytest.raises(ValueError, match="permutation"):
        check_symmetries((cells, np.zeros_like(actions)), "test")
    with pytest.raises(ValueError, match="same G"):
        check_symmetries((cells, actions[:4]), "test")
    batch = fill_buffer(make_policy()).sample(2)
    with pytest.raises(ValueError, match="H \\* W = 16"):
        flat = batch.replace(obs=np.zeros((2, 3, 3, 3)))
        augment_batch(flat, (cells, actions), np.random.default_rng(0))
    with pytest.raises(ValueError, match="sampled actions"):
        sampled = batch.replace(root_sampled_actions=np.zeros((2, 2, 3)))
        augment_batch(sampled, (cells, actions), np.random.default_rng(0))
