"""MultiTaskEnv padding, task ids from the collector, and per-task evaluation results."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from pipezero.middleware.env_collect import env_collect
from pipezero.middleware.interval_eval import interval_eval
from policy_toy import TINY_MODEL, TINY_POLICY

from pipezero.data import ReplayBuffer
from pipezero.envs.multitask import MultiTaskEnv, PadSpaces, task_name
from pipezero.framework import Event, Task, TrainContext
from pipezero.model import MuZeroMLP
from pipezero.policy import MuZeroPolicy
from pipezero.tracking import scalars

# CartPole: 4-d observations, 2 actions; Acrobot: 6-d, 3 actions -> padded to 6-d, 3 actions
TASKS = ["CartPole-v1", "Acrobot-v1"]


def two_tasks(num_envs: int = 2, seed: int = 0) -> MultiTaskEnv:
    return MultiTaskEnv.make(TASKS, num_envs, seed=seed, max_episode_steps=20)


def policy() -> MuZeroPolicy:
    cfg = dict(TINY_POLICY, model=dict(TINY_MODEL))
    return MuZeroPolicy(cfg, MuZeroMLP(6, 3, **TINY_MODEL), seed=0)


def test_observations_and_actions_are_padded():
    envs = two_tasks()
    assert envs.observation_shape == (6,) and envs.action_space_size == 3
    assert envs.task_ids.tolist() == [0, 0, 1, 1]
    assert envs.task_names == ("CartPole", "Acrobot")
    obs = envs.reset()
    assert (obs.observation[:2, 4:] == 0).all() and (obs.observation[2:, 4:] != 0).any()
    assert obs.action_mask.tolist() == [[True, True, False]] * 2 + [[True, True, True]] * 2
    out = envs.step(np.array([1, 0, 2, 2]))
    assert out.obs.action_mask[:2, 2].sum() == 0
    with pytest.raises(RuntimeError, match="padding for CartPole-v1"):
        envs.step(np.array([2, 0, 0, 0]))


def test_pad_spaces_rejects_what_it_cannot_pad():
    with pytest.raises(ValueError, match="same rank"):
        PadSpaces(gym.make("CartPole-v1"), (4, 2), 2)
    with pytest.raises(ValueError, match="cannot pad"):
        PadSpaces(gym.make("Acrobot-v1"), (6,), 2)
    assert task_name("MinAtar/Breakout-v0") == "Breakout" and task_name("CartPole-v1") == "CartPole"


def test_collector_segments_carry_their_environments_task():
    p = policy()
    envs = two_tasks()
    collect = env_collect(p.cfg, p, envs)
    ctx = TrainContext()
    segments = []
    for _ in range(12):
        collect(ctx)
        segments += ctx.new_segments
    by_task = {seg.task_id for seg in segments}
    assert by_task == {0, 1}
    for seg in segments:  # CartPole's padded action is never legal, Acrobot's is
        assert seg.action_masks[: seg.length, 2].any() == (seg.task_id == 1)
    buffer = ReplayBuffer(10_000, p.cfg.num_unroll_steps, p.cfg.td_steps, seed=0)
    buffer.extend(segments)
    batch = buffer.sample(64)
    assert np.bincount(batch.task_ids).tolist() == [32, 32]
    cartpole = batch.task_ids == 0
    assert (batch.obs[cartpole, 4:] == 0).all()


def test_evaluation_results_are_keyed_by_task():
    p = policy()
    cfg = dict(p.cfg, eval_freq=1, n_evaluator_episode=3, stop_value=None)
    task = Task(TrainContext())
    task.use(interval_eval(cfg, p, two_tasks(seed=10_000)))
    results = []
    task.on(Event.EVAL_DONE, lambda ctx, r: results.append(r))
    ctx = task.run(max_steps=1)
    (result,) = results
    cart, acro = result["CartPole"], result["Acrobot"]
    assert cart["num_episodes"] == acro["num_episodes"] == 3  # per task, 2 envs each
    assert result["num_episodes"] == 6
    assert cart["return_max"] <= 20 and acro["return_max"] <= 0  # 20-step cap
    assert result["return_mean"] == pytest.approx((cart["return_mean"] + acro["return_mean"]) / 2)
    assert ctx.best_eval_return == result["return_mean"]
    tags = scalars(result, "eval")
    assert tags["eval/CartPole/return_mean"] == cart["return_mean"]
    assert "eval/Acrobot/episode_length_mean" in tags and "eval/return_mean" in tags
