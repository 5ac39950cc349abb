import numpy as np
import pytest
import torch

from pipezero.data import (
    ValueTargetInputs,
    compute_value_targets,
    nstep_bootstrap,
    value_prefix_targets,
)


def test_nstep_single_player_no_end():
    # K = 1, n = 2, gamma = 0.5; window of W = 4 rewards
    rewards = np.array([[1.0, 2.0, 4.0, 8.0]])
    to_play = np.full((1, 4), -1)
    reward_sum, offset, discount, mask = nstep_bootstrap(
        rewards, to_play, np.array([99]), np.array([False]), 1, 2, 0.5
    )
    assert reward_sum.tolist() == [[1 + 0.5 * 2, 2 + 0.5 * 4]]
    assert offset.tolist() == [[2, 3]] and discount.tolist() == [[0.25, 0.25]]
    assert mask.tolist() == [[True, True]]


def test_nstep_terminal_and_truncated_ends():
    rewards = np.array([[1.0, 2.0, 4.0, 8.0], [1.0, 2.0, 4.0, 8.0]])
    to_play = np.full((2, 4), -1)
    # final observation at relative position 1: terminated (row 0), truncated (row 1)
    reward_sum, offset, discount, mask = nstep_bootstrap(
        rewards, to_play, np.array([1, 1]), np.array([True, False]), 1, 2, 0.5
    )
    assert reward_sum.tolist() == [[1.0, 0.0], [1.0, 0.0]]
    assert discount.tolist() == [[0.0, 0.0], [0.5, 1.0]]
    assert offset.tolist() == [[-1, -1], [1, 1]]
    assert mask.tolist() == [[True, True], [True, True]]
    # final observation at 0: position 1 is after the end (absorbing)
    _, offset, discount, mask = nstep_bootstrap(
        rewards[:1], to_play[:1], np.array([0]), np.array([False]), 1, 2, 0.5
    )
    assert mask.tolist() == [[True, False]]
    assert discount.tolist() == [[1.0, 0.0]] and offset.tolist() == [[0, -1]]


def test_nstep_two_player_signs():
    # players alternate 1, 2, 1, 2; a reward belongs to the player who moved
    rewards = np.array([[0.0, 0.0, 1.0, 0.0]])
    to_play = np.array([[1, 2, 1, 2]])
    reward_sum, _, discount, _ = nstep_bootstrap(
        rewards, to_play, np.array([99]), np.array([False]), 0, 3, 1.0
    )
    assert reward_sum.tolist() == [[1.0]]  # player 1's own winning move
    assert discount.tolist() == [[-1.0]]  # the bootstrap state has player 2 to move
    rewards = np.array([[0.0, 1.0, 0.0, 0.0]])
    reward_sum, _, discount, _ = nstep_bootstrap(
        rewards, to_play, np.array([2]), np.array([True]), 0, 3, 1.0
    )
    assert reward_sum.tolist() == [[-1.0]] and discount.tolist() == [[0.0]]


def test_nstep_rejects_wrong_window():
    with pytest.raises(ValueError, match=r"\[B, 4\]"):
        nstep_bootstrap(np.zeros((1, 3)), np.zeros((1, 3)), [9], [False], 1, 2, 0.5)


def test_compute_value_targets_scatters_bootstrap_values():
    inputs = ValueTargetInputs(
        obs=torch.zeros(2, 1),
        index=torch.tensor([0, 3]),
        reward_sum=torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
        discount=torch.tensor([[0.5, 0.0], [0.0, -1.0]]),
        mask=torch.ones(2, 2),
    )
    out = compute_value_targets(inputs, torch.tensor([10.0, 20.0]))
    assert out.tolist() == [[6.0, 2.0], [3.0, -16.0]]
    with pytest.raises(ValueError, match="one per bootstrap"):
        compute_value_targets(inputs, torch.zeros(3))


def test_value_prefix_targets_reset_every_horizon():
    rewards = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    assert value_prefix_targets(rewards, 2).tolist() == [[1, 3, 3, 7, 5]]
    assert value_prefix_targets(torch.tensor(rewards), 5).tolist() == [[1, 3, 6, 10, 15]]
