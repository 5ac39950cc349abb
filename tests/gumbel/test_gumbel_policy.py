"""GumbelMuZeroPolicy: improved-policy targets, deterministic evaluation, the policy loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gumbel_toy import tiny_gumbel_policy

from pipezero.config import ConfigError
from pipezero.data import GameSegmentWriter, ReplayBuffer
from pipezero.envs import BatchEnv
from pipezero.policy.losses import soft_cross_entropy, unroll_step_weights

torch.set_num_threads(1)


def random_masks(rng: np.random.Generator, n: int, a: int) -> np.ndarray:
    mask = rng.random((n, a)) < 0.6
    mask[np.arange(n), rng.integers(0, a, n)] = True  # at least one legal action per row
    return mask


def test_config_keeps_gumbel_keys_and_rejects_puct_ones():
    policy = tiny_gumbel_policy(max_num_considered_actions=3, gumbel_scale=0.5, value_scale=0.2)
    mcts = policy.collect_search.config
    assert (mcts.max_num_considered_actions, mcts.gumbel_scale, mcts.value_scale) == (3, 0.5, 0.2)
    assert mcts.num_simulations == 8
    with pytest.raises(ConfigError, match="root_dirichlet_alpha"):
        tiny_gumbel_policy(root_dirichlet_alpha=0.3)


def test_improved_policy_sums_to_one_over_legal_actions_and_is_zero_elsewhere():
    policy = tiny_gumbel_policy(obs_dim=4, num_actions=6, max_num_considered_actions=4)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(32, 4)).astype(np.float32)
    mask = random_masks(rng, 32, 6)
    to_play = np.full(32, -1)
    for act in (policy.collect(obs, mask, to_play, 0), policy.evaluate(obs, mask, to_play)):
        pi = act.visit_policy
        assert pi.shape == (32, 6) and pi.dtype == np.float32
        np.testing.assert_allclose(pi.sum(axis=1), 1.0, atol=1e-5)
        assert np.all(pi[~mask] == 0.0)
        assert np.all(pi[mask] > 0.0)  # completed Q: unvisited legal actions keep some mass
        assert mask[np.arange(32), act.action].all()


def collect_visits(policy, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Root visit counts of the policy's collection search (with Gumbel noise)."""
    with torch.inference_mode():
        root = policy.acting_model.initial_inference(torch.as_tensor(obs))
    result = policy.collect_search.search(root, mask, np.full(len(obs), -1))
    return result.visit_counts.numpy()


def test_collect_visits_m_actions_per_root():
    policy = tiny_gumbel_policy(obs_dim=4, num_actions=6, max_num_considered_actions=2)
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(16, 4)).astype(np.float32)
    visits = collect_visits(policy, obs, np.ones((16, 6), dtype=bool))
    assert np.all((visits > 0).sum(axis=1) == 2)


def test_evaluation_is_deterministic():
    policy = tiny_gumbel_policy(obs_dim=4, num_actions=6)
    rng = np.random.default_rng(2)
    obs = rng.normal(size=(16, 4)).astype(np.float32)
    mask = random_masks(rng, 16, 6)
    to_play = np.full(16, -1)
    first = policy.evaluate(obs, mask, to_play)
    policy.collect(obs, mask, to_play, 0)  # moves the collection noise generator
    second = policy.evaluate(obs, mask, to_play)
    np.testing.assert_array_equal(first.action, second.action)
    np.testing.assert_array_equal(first.visit_policy, second.visit_policy)
    # a fresh policy with another seed but the same network acts the same way
    other = tiny_gumbel_policy(obs_dim=4, num_actions=6, seed=0)
    other.eval_search.rng = np.random.default_rng(123)
    np.testing.assert_array_equal(other.evaluate(obs, mask, to_play).action, first.action)


def collect_buffer(policy, batched_steps: int = 40):
    """CartPole transitions collected by ``policy``: the buffer, its segments, the ActResults."""
    c = policy.cfg
    envs = BatchEnv.make("CartPole-v1", 2, seed=0)
    buffer = ReplayBuffer(1000, c.num_unroll_steps, c.td_steps, c.discount_factor, seed=0)
    writers = [
        GameSegmentWriter((4,), 2, c.game_segment_length, c.num_unroll_steps, c.td_steps)
        for _ in range(2)
    ]
    acts, segments = [], []
    obs = envs.reset()
    for step in range(batched_steps):
        act = policy.collect(obs.observation, obs.action_mask, obs.to_play, step)
        acts.append(act)
        out = envs.step(act.action)
        for i, w in enumerate(writers):
            w.append(
                obs.observation[i],
                obs.action_mask[i],
                -1,
                int(act.action[i]),
                float(out.reward[i]),
                act.visit_policy[i],
                float(act.root_value[i]),
            )
            if out.done[i]:
                w.end_episode(out.final_observation[i], bool(out.terminated[i]))
        obs = out.obs
    for w in writers:
        for seg in w.pop_finished():
            buffer.push(seg)
            segments.append(seg)
    return buffer, segments, acts


def test_the_stored_target_is_the_improved_policy_not_the_visit_counts():
    policy = tiny_gumbel_policy()
    _, segments, acts = collect_buffer(policy, batched_steps=30)
    stored = np.concatenate([seg.child_visits[: seg.length] for seg in segments])
    improved = np.concatenate([a.visit_policy for a in acts])
    # 8 simulations over 2 actions: sequential halving gives 4 visits to each, always
    obs = np.random.default_rng(3).normal(size=(8, 4)).astype(np.float32)
    assert np.all(collect_visits(policy, obs, np.ones((8, 2), dtype=bool)) == 4)
    assert not np.allclose(stored, 0.5)  # the visit distribution would be exactly 0.5 / 0.5
    for row in stored:  # every stored target is one of the improved policies collected
        assert np.isclose(improved, row, atol=1e-6).all(axis=1).any()


def test_policy_loss_is_the_cross_entropy_to_the_improved_policy_and_learning_reduces_it():
    policy = tiny_gumbel_policy(learning_rate=1e-2)
    buffer, _, _ = collect_buffer(policy)
    batch = buffer.sample(16)
    moved = policy.device_batch(batch)
    targets = policy.compute_targets(moved)
    np.testing.assert_allclose(targets.policy.numpy(), batch.target_policy)
    obs = torch.as_tensor(batch.obs)
    actions = torch.as_tensor(batch.actions)
    with torch.no_grad():
        unroll = policy.unroll(obs, actions)
        losses = policy.losses(unroll, targets, moved)
    w = unroll_step_weights(actions.shape[1])
    expected = soft_cross_entropy(unroll.policy_logits, targets.policy) * targets.policy_mask * w
    torch.testing.assert_close(losses["policy_loss"], expected.sum(1))

    before = float(losses["policy_loss"].mean())
    for _ in range(30):
        result = policy.learn(batch)
        assert not result.skipped
    with torch.no_grad():
        unroll = policy.unroll(obs, actions)
        after = float(policy.losses(unroll, targets, moved)["policy_loss"].mean())
    assert after < before
