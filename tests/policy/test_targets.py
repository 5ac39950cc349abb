"""Targets of a hand-built batch: ``B = 3`` rows, ``K = 2`` unroll steps, ``A = 2`` actions.

Row 0 goes on past the window; row 1 *terminates* at unroll position 1; row 2 is
*truncated* at unroll position 1 (its final observation bootstraps from itself).
The stub target network values an observation at ``obs[0]``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from policy_toy import tiny_policy

from pipezero.data import Batch, DeviceBatch
from pipezero.model.protocol import NetworkOutput
from pipezero.policy.targets import (
    bootstrapped_value_targets,
    loss_masks,
    terminated_in_window,
    unroll_targets,
)


class FirstFeatureValue(torch.nn.Module):
    """Target-network stub: ``value(obs) = obs[:, 0]``; counts the observations it valued."""

    def __init__(self) -> None:
        super().__init__()
        self.num_valued = 0

    def initial_inference(self, obs: torch.Tensor) -> NetworkOutput:
        b = obs.shape[0]
        self.num_valued += b
        return NetworkOutput(obs, torch.zeros(b, 2), obs[:, 0], torch.zeros(b))


def hand_batch() -> Batch[np.ndarray]:
    f32, b, k1 = np.float32, np.zeros(3, np.int64), (3, 3)
    return Batch(
        obs=np.zeros((3, 1), f32),
        actions=np.array([[0, 1], [1, 0], [0, 0]]),
        rewards=np.array([[1, 2], [1, 0], [1, 0]], f32),
        target_policy=np.array(
            [
                [[0.5, 0.5], [1, 0], [0, 1]],
                [[0.25, 0.75], [0, 0], [0, 0]],
                [[1, 0], [0, 0], [0, 0]],
            ],
            f32,
        ),
        policy_mask=np.array([[1, 1, 1], [1, 0, 0], [1, 0, 0]], f32),
        action_masks=np.ones((*k1, 2), bool),
        to_play=np.full(k1, -1),
        root_values=np.zeros(k1, f32),
        unroll_mask=np.array([[1, 1, 1], [1, 1, 0], [1, 1, 0]], f32),
        reward_sum=np.array([[1.5, 2.0, 0.5], [1.0, 0, 0], [1.0, 0, 0]], f32),
        bootstrap_discount=np.array([[0.25, 0.25, 0.25], [0, 0, 0], [0.5, 1.0, 0]], f32),
        # flat index in B * (K + 1) = 9 slots: row 0 all three, row 2 positions 0 and 1
        bootstrap_obs=np.array([[4.0], [8.0], [12.0], [2.0], [2.0]], f32),
        bootstrap_index=np.array([0, 1, 2, 6, 7]),
        # stored search values; row 2's bootstrap is its final observation: never searched
        bootstrap_search_values=np.array([3.0, 5.0, 7.0, np.nan, np.nan], f32),
        weights=np.ones(3, f32),
        indices=np.arange(3),
        segment_ids=b,
        positions=b,
        task_ids=b,
    )


def moved(batch: Batch[np.ndarray] | None = None) -> DeviceBatch:
    return DeviceBatch.move(hand_batch() if batch is None else batch, "cpu")


def test_value_targets_add_the_discounted_bootstrap_value():
    z = bootstrapped_value_targets(moved(), FirstFeatureValue())
    expected = torch.tensor(
        [
            [1.5 + 0.25 * 4, 2.0 + 0.25 * 8, 0.5 + 0.25 * 12],
            [1.0, 0.0, 0.0],  # terminated: no bootstrap
            [1.0 + 0.5 * 2, 0.0 + 1.0 * 2, 0.0],  # truncated: the final obs bootstraps
        ]
    )
    assert z.shape == (3, 3)
    torch.testing.assert_close(z, expected)


def test_search_bootstrap_uses_stored_values_and_the_network_only_where_none_is_stored():
    network = FirstFeatureValue()
    z = bootstrapped_value_targets(moved(), network, source="search")
    expected = torch.tensor(
        [
            [1.5 + 0.25 * 3, 2.0 + 0.25 * 5, 0.5 + 0.25 * 7],
            [1.0, 0.0, 0.0],
            [1.0 + 0.5 * 2, 0.0 + 1.0 * 2, 0.0],  # the truncated row's final obs: network
        ]
    )
    torch.testing.assert_close(z, expected)
    assert network.num_valued == 2


def test_unknown_bootstrap_source_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match=r"target_network.*search.*'stale'"):
        bootstrapped_value_targets(moved(), FirstFeatureValue(), source="stale")
    with pytest.raises(ValueError, match=r"policy\.value_bootstrap"):
        tiny_policy("muzero", value_bootstrap="stale")


def test_terminal_rows_train_absorbing_states_truncated_rows_do_not():
    batch = hand_batch()
    assert terminated_in_window(batch).tolist() == [False, True, False]
    value_mask, reward_mask, policy_mask = loss_masks(batch)
    np.testing.assert_array_equal(value_mask, [[1, 1, 1], [1, 1, 1], [1, 1, 0]])
    np.testing.assert_array_equal(reward_mask, [[1, 1], [1, 1], [1, 0]])
    np.testing.assert_array_equal(policy_mask, batch.policy_mask)


def test_unroll_targets_shapes():
    batch = moved()
    z = bootstrapped_value_targets(batch, FirstFeatureValue())
    t = unroll_targets(batch, z, batch.host.rewards)
    assert t.value.shape == (3, 3)
    assert t.reward.shape == (3, 2)
    assert t.policy.shape == (3, 3, 2)
    assert t.value_mask.shape == (3, 3) and t.reward_mask.shape == (3, 2)
    assert all(x.dtype == torch.float32 for x in (t.value, t.reward, t.policy, t.value_mask))


def test_no_bootstrap_observation_needs_no_network_call():
    batch = hand_batch()
    batch = batch.replace(
        bootstrap_obs=np.zeros((0, 1), np.float32),
        bootstrap_index=np.zeros(0, np.int64),
        bootstrap_search_values=np.zeros(0, np.float32),
        bootstrap_discount=np.zeros_like(batch.bootstrap_discount),
    )
    z = bootstrapped_value_targets(moved(batch), None)  # type: ignore[arg-type]
    torch.testing.assert_close(z, torch.as_tensor(batch.reward_sum))


def test_efficientzero_reward_targets_are_value_prefixes():
    policy = tiny_policy("efficientzero", lstm_horizon_len=2, num_unroll_steps=3)
    rewards = np.array([[1.0, 2.0, 3.0]], np.float32)
    batch = hand_batch().replace(rewards=rewards)
    np.testing.assert_array_equal(policy.reward_targets(batch), [[1, 3, 3]])
    muzero = tiny_policy("muzero")
    np.testing.assert_array_equal(muzero.reward_targets(batch), rewards)


@pytest.mark.parametrize("horizon, resets", [(1, [0, 1, 2]), (2, [0, 2]), (5, [0])])
def test_efficientzero_resets_the_lstm_where_the_prefix_restarts(horizon, resets):
    policy = tiny_policy("efficientzero", lstm_horizon_len=horizon)
    state = object()
    got = [k for k in range(3) if policy.dynamics_hidden(k, state) is None]
    assert got == resets
