"""UniZero policy: teacher-forcing losses, soft target updates, per-environment caches,
buffer reanalysis."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from unizero_toy import fill_buffer, tiny_policy

from pipezero.config import ConfigError
from pipezero.data.segment_targets import num_search_positions
from pipezero.model import MuZeroMLP
from pipezero.policy.unizero import UniZeroPolicy


def test_teacher_forcing_outputs_and_losses_have_the_batch_shapes():
    policy = tiny_policy()
    buffer = fill_buffer(policy)
    batch = policy.device_batch(buffer.sample(8, with_unroll_obs=True))
    k = policy.cfg.num_unroll_steps
    out, goal = policy.teacher_forcing(batch)
    assert goal.shape == (8, k, 16) and not goal.requires_grad
    assert out.policy_logits.shape == (8, k + 1, 2)
    assert out.value_logits.shape == (8, k + 1, policy.model.value_support.size)
    assert out.reward_logits.shape == (8, k, policy.model.reward_support.size)
    assert out.next_latents.shape == (8, k, 16)
    losses = policy.sequence_losses(out, goal, policy.compute_targets(batch), batch)
    for name in ("policy_loss", "value_loss", "reward_loss", "latent_loss", "per_sample"):
        assert losses[name].shape == (8,) and torch.isfinite(losses[name]).all(), name
    assert (losses["latent_loss"] > 0).any()


def test_latent_loss_is_masked_after_the_episode_end():
    policy = tiny_policy()
    batch = fill_buffer(policy).sample(8, with_unroll_obs=True)
    batch = policy.device_batch(batch.replace(unroll_obs_mask=np.zeros_like(batch.unroll_obs_mask)))
    out, goal = policy.teacher_forcing(batch)
    losses = policy.sequence_losses(out, goal, policy.compute_targets(batch), batch)
    assert torch.count_nonzero(losses["latent_loss"]) == 0


def test_learn_updates_priorities_and_soft_updates_the_target():
    policy = tiny_policy(target_update_theta=0.25)
    buffer = fill_buffer(policy)
    batch = buffer.sample(8, with_unroll_obs=True)
    before = {k: v.clone() for k, v in policy.target_model.state_dict().items()}
    result = policy.learn(batch)
    assert not result.skipped and result.priorities.shape == (8,)
    assert np.isfinite(result.info["total_loss"]) and "latent_loss" in result.info
    online = policy.model.state_dict()
    for name, value in policy.target_model.state_dict().items():
        if value.is_floating_point():
            expected = 0.75 * before[name] + 0.25 * online[name]
            torch.testing.assert_close(value, expected, atol=1e-6, rtol=1e-5)
    target = policy.target_model.state_dict()
    moved = [n for n, v in target.items() if not torch.equal(v, before[n])]
    assert moved  # the target followed the learner a quarter of the way


def test_collect_keeps_and_resets_per_environment_history():
    policy = tiny_policy()
    obs = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    legal, to_play = np.ones((3, 2), dtype=bool), np.full(3, -1)
    policy.collect(obs, legal, to_play, 0)
    assert policy._contexts.count.tolist() == [1, 1, 1]
    policy.collect(obs, legal, to_play, 1)
    assert policy._contexts.count.tolist() == [3, 3, 3]  # z0, a0, z1
    policy.reset_caches([1])
    policy.collect(obs, legal, to_play, 2)
    assert policy._contexts.count.tolist() == [5, 1, 5]
    policy.reset_caches()
    assert policy._contexts is None
    policy.collect(obs[:2], legal[:2], to_play[:2], 3)  # fewer rows: every stream restarts
    assert policy._contexts.count.tolist() == [1, 1]


def test_reanalyze_segments_returns_targets_for_every_transition_position():
    policy = tiny_policy()
    buffer = fill_buffer(policy)
    segments = buffer.segments()[:3]
    stored = [seg.child_visits.copy() for seg in segments]
    result = policy.reanalyze_segments(segments)
    assert len(result.child_visits) == 3 == len(result.root_values)
    for seg, visits, values, old in zip(
        segments, result.child_visits, result.root_values, stored, strict=True
    ):
        t = num_search_positions(seg)
        assert visits.shape == (t, 2) and values.shape == (t,)
        np.testing.assert_allclose(visits.sum(1), 1.0, rtol=1e-6)
        np.testing.assert_array_equal(seg.child_visits, old)  # not modified
    assert result.num_states == sum(num_search_positions(s) for s in segments)
    steps = max(num_search_positions(s) for s in segments)
    assert result.num_network_calls == steps * (1 + policy.cfg.num_simulations)


def test_config_and_model_errors_say_what_to_fix():
    with pytest.raises(ConfigError, match="did you mean 'num_segments'"):
        tiny_policy(num_segment=4)
    with pytest.raises(ValueError, match="target_update_type='soft'"):
        tiny_policy(target_update_type="hard")
    with pytest.raises(TypeError, match="transformer world model"):
        UniZeroPolicy({}, MuZeroMLP(4, 2, latent_dim=8, hidden_dim=8, support_size=2))


def test_state_dict_round_trip_restores_models_and_counters():
    policy = tiny_policy()
    policy.learn(fill_buffer(policy).sample(8, with_unroll_obs=True))
    state = policy.state_dict()
    other = tiny_policy(seed=5)
    other.load_state_dict(state)
    assert other.train_iter == 1
    for a, b in zip(policy.target_model.parameters(), other.target_model.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    obs = torch.randn(2, 4)
    with torch.no_grad():
        torch.testing.assert_close(
            policy.model.initial_inference(obs).value, other.model.initial_inference(obs).value
        )
