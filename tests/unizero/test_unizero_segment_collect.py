"""env_collect with ``num_segments`` (UniZero's segment collection) and the cache hook."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pipezero.middleware.env_collect import env_collect
from unizero_toy import tiny_policy

from pipezero.envs import BatchEnv
from pipezero.framework import TrainContext


class RecordingPolicy:
    """A UniZero policy that records the ``reset_caches`` calls env_collect makes."""

    def __init__(self, policy) -> None:
        self.policy = policy
        self.cfg = policy.cfg
        self.resets: list[list[int] | None] = []
        self.episode_ends: list[list[int]] = []

    def collect(self, *args):
        return self.policy.collect(*args)

    def set_weights(self, weights) -> None:
        self.policy.set_weights(weights)

    def reset_caches(self, env_ids=None) -> None:
        self.resets.append(None if env_ids is None else [int(i) for i in env_ids])
        self.policy.reset_caches(env_ids)


def test_returns_after_num_segments_with_contiguous_padding():
    policy = tiny_policy(num_segments=3)  # L = 6, K = 3, n = 2: padding P = 5
    collect = env_collect(policy.cfg, policy, BatchEnv.make("CartPole-v1", 1, seed=0))
    ctx = TrainContext()
    segments = []
    for _ in range(4):
        collect(ctx)
        # one environment finishes at most two segments in a step (the pending one + an end)
        assert 3 <= len(ctx.new_segments) <= 4
        segments += ctx.new_segments
    assert ctx.env_step == sum(s.length for s in segments) + _unfinished(collect)
    p = policy.cfg.num_unroll_steps + policy.cfg.td_steps
    for seg, nxt in itertools.pairwise(segments):
        assert seg.finished and 1 <= seg.length <= policy.cfg.game_segment_length
        if seg.episode_ended:
            continue  # the next segment starts a new episode
        assert seg.length == policy.cfg.game_segment_length
        pad = seg.num_padding
        assert pad == p or (nxt.episode_ended and pad == nxt.length)
        np.testing.assert_array_equal(seg.obs[seg.length : seg.length + pad], nxt.obs[:pad])
        np.testing.assert_array_equal(seg.actions[seg.length : seg.length + pad], nxt.actions[:pad])
        np.testing.assert_array_equal(seg.rewards[seg.length : seg.length + pad], nxt.rewards[:pad])
    assert any(s.episode_ended for s in segments)  # CartPole ends fast with a fresh model


def _unfinished(collect) -> int:
    """Transitions the collector holds in segments that are not finished yet."""
    state = collect.fn.__self__
    return sum(w.num_unfinished_transitions for w in state.writers)


def test_steps_until_every_requested_segment_is_finished():
    policy = tiny_policy(num_segments=4, game_segment_length=5, td_steps=1, num_unroll_steps=1)
    collect = env_collect(policy.cfg, policy, BatchEnv.make("CartPole-v1", 2, seed=1))
    ctx = TrainContext()
    collect(ctx)
    assert len(ctx.new_segments) >= 4
    assert ctx.env_step % 2 == 0 and ctx.env_step >= 2 * 5


def test_reset_caches_hook_sees_episode_ends_and_the_end_of_each_collect():
    inner = tiny_policy(collect_env_steps=30)
    policy = RecordingPolicy(inner)
    collect = env_collect(inner.cfg, policy, BatchEnv.make("CartPole-v1", 2, seed=0))
    ctx = TrainContext()
    collect(ctx)
    assert policy.resets[-1] is None  # cleared after the collect
    ended = policy.resets[:-1]
    assert ended and all(ids for ids in ended)  # CartPole episodes end within 30 steps
    assert sum(len(ids) for ids in ended) == ctx.env_episode
    assert inner._contexts is None


def test_num_segments_must_be_a_positive_int():
    with pytest.raises(ValueError, match="'num_segments' must be an int >= 1, got 0"):
        tiny_policy(num_segments=0)  # refused by the config's range check
    policy = tiny_policy()
    with pytest.raises(ValueError, match="num_segments must be None"):
        env_collect(
            {**policy.cfg, "num_segments": 0}, policy, BatchEnv.make("CartPole-v1", 1, seed=0)
        )
