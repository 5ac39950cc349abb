"""env_collect's collection modes: a number of batched steps (collect_env_steps, default),
of finished segments (num_segments) or of finished episodes (n_episode)."""

from __future__ import annotations

import pytest
from pipezero.middleware.env_collect import env_collect
from policy_toy import tiny_policy

from pipezero.envs import BatchEnv
from pipezero.framework import TrainContext


def test_n_episode_collects_until_that_many_episodes_ended():
    policy = tiny_policy("muzero", n_episode=3, collect_env_steps=1)
    envs = BatchEnv.make("CartPole-v1", 2, seed=0)
    collect = env_collect(policy.cfg, policy, envs)
    ctx = TrainContext()
    collect(ctx)
    first = len(ctx.collect_episode_returns)
    assert 3 <= first <= 4  # the last step may end an episode in both environments
    assert ctx.env_step > 2  # many batched steps, not collect_env_steps=1
    assert first == ctx.env_episode
    assert sum(s.episode_ended for s in ctx.new_segments) >= first  # their last segments
    ctx.renew()
    collect(ctx)  # the episodes still running continue: the next call counts new ones
    assert 3 <= len(ctx.collect_episode_returns) <= 4
    assert ctx.env_episode == first + len(ctx.collect_episode_returns)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"n_episode": 0}, "n_episode must be None"),
        ({"n_episode": True}, "n_episode must be None"),
        ({"n_episode": 2, "num_segments": 2}, "both set"),
    ],
)
def test_bad_collection_modes_are_refused(overrides, match):
    policy = tiny_policy("muzero")
    cfg = dict(policy.cfg, **overrides)
    with pytest.raises(ValueError, match=match):
        env_collect(cfg, policy, BatchEnv.make("CartPole-v1", 1, seed=0))
