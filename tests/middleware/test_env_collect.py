from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from pipezero.middleware.env_collect import env_collect
from policy_toy import tiny_policy

from pipezero.data import GameSegment
from pipezero.envs import BatchEnv, GymAdapter
from pipezero.framework import Event, Task, TrainContext


def test_collects_segments_counts_steps_and_emits_new_data():
    policy = tiny_policy("muzero")
    envs = BatchEnv.make("CartPole-v1", 3, seed=0)
    task = Task(TrainContext())
    mw = env_collect(policy.cfg, policy, envs)
    task.use(mw)
    seen = []
    task.on(Event.NEW_DATA, lambda ctx, segments: seen.append(list(segments)))
    per_step = []
    task.use(lambda ctx: per_step.append(list(ctx.new_segments)))
    ctx = task.run(max_steps=5)

    steps = policy.cfg.collect_env_steps
    assert mw.role == "collector"
    assert ctx.env_step == 5 * steps * 3
    assert [len(s) for s in seen] == [len(s) for s in per_step]
    segments = [seg for step in per_step for seg in step]
    assert segments and all(isinstance(s, GameSegment) and s.finished for s in segments)
    assert all(s.length <= policy.cfg.game_segment_length for s in segments)
    ended = [s for s in segments if s.episode_ended]
    assert ctx.env_episode >= len(ended) > 0  # CartPole with a random-ish policy ends fast
    assert sum(s.length for s in segments) <= ctx.env_step


def test_writes_returns_of_finished_episodes_and_predicted_values():
    policy = tiny_policy("muzero", collect_env_steps=50)
    ctx = TrainContext()
    collect = env_collect(policy.cfg, policy, BatchEnv.make("CartPole-v1", 2, seed=0))
    assert "collect_episode_returns" in collect.writes
    collect(ctx)  # 100 CartPole steps: an untrained policy ends episodes well before
    returns = ctx.collect_episode_returns
    assert len(returns) == ctx.env_episode > 0
    assert all(r >= 1.0 and r == int(r) for r in returns)  # CartPole: +1 per step
    real = [s.pred_values[: s.length] for s in ctx.new_segments]
    assert real and all(np.isfinite(p).all() for p in real)
    ctx.renew()
    assert ctx.collect_episode_returns == []


def test_fresh_context_collects_from_the_first_call():
    policy = tiny_policy("muzero", collect_env_steps=1)
    ctx = TrainContext()
    collect = env_collect(policy.cfg, policy, BatchEnv.make("CartPole-v1", 2, seed=0))
    collect(ctx)  # no task: no events, no weights
    assert ctx.env_step == 2 and ctx.new_segments == []


class FailingStep(gym.Wrapper):
    def __init__(self, env: gym.Env, fail_at: int) -> None:
        super().__init__(env)
        self.fail_at, self.count = fail_at, 0

    def step(self, action):
        self.count += 1
        if self.count == self.fail_at:
            raise FloatingPointError("physics exploded")
        return self.env.step(action)


def test_env_failure_names_index_id_seed_and_step():
    policy = tiny_policy("muzero", collect_env_steps=8)
    good = GymAdapter("CartPole-v1", seed=7)
    bad = GymAdapter(FailingStep(gym.make("CartPole-v1"), fail_at=3), seed=11)
    ctx = TrainContext()
    collect = env_collect(policy.cfg, policy, BatchEnv([good, bad]))
    with pytest.raises(RuntimeError) as info:
        collect(ctx)
    message = str(info.value)
    for part in ("environment 1", "CartPole-v1", "seed 11", "step", "env_step 4", "exploded"):
        assert part in message, message


def test_bad_collect_env_steps_is_rejected():
    policy = tiny_policy("muzero")
    cfg = dict(policy.cfg, collect_env_steps=0)
    with pytest.raises(ValueError, match=r"collect_env_steps.*got 0"):
        env_collect(cfg, policy, BatchEnv.make("CartPole-v1", 1, seed=0))
