"""Resuming "as if it never stopped": the collector's run state travels in checkpoints.

A run stopped at env step N and resumed to 2N must equal an uninterrupted run to 2N (train
iterations, buffer, weights bit for bit on CartPole, whose environments are snapshotted).
Environments that cannot be snapshotted get their partial episodes closed as truncated on
resume, never dropped.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from pipezero.middleware.ckpt_saver import ckpt_saver
from pipezero.middleware.env_collect import env_collect

from pipezero.checkpoint import load_pair, resume
from pipezero.data import GameSegment, ReplayBuffer
from pipezero.envs import BatchEnv, GymAdapter
from pipezero.framework import Task, TrainContext
from pipezero.recipe import train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policy"))
from policy_toy import tiny_policy

# A MuZero CartPole run of a few seconds: 2 environments x 10 steps per collect.
TINY = ["--smoke", "--set", "policy.model.latent_dim=16", "--set", "policy.model.hidden_dim=16"]


def final_pair(run_dir: Path) -> tuple[dict[str, Any], ReplayBuffer]:
    path = run_dir / "ckpt" / "final.pt"
    state, _ = load_pair(path)
    return state, ReplayBuffer.load(path.parent / state["buffer_file"])


def test_stopped_and_resumed_equals_uninterrupted_bit_for_bit(tmp_path, capsys):
    n = 100
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(
        "muzero_cartpole",
        [*TINY, "--seed", "3", "--exp-dir", str(whole), "--max-env-step", str(2 * n)],
    )
    train(
        "muzero_cartpole", [*TINY, "--seed", "3", "--exp-dir", str(parts), "--max-env-step", str(n)]
    )
    stopped, _ = final_pair(parts)
    held = stopped["run_state"]["env_collect"]
    assert stopped["counters"]["env_step"] == n and held["obs"] is not None
    train("muzero_cartpole", ["--resume", str(parts), "--max-env-step", str(2 * n)])
    capsys.readouterr()

    a, buffer_a = final_pair(whole)
    b, buffer_b = final_pair(parts)
    for key in ("env_step", "train_iter", "env_episode", "best_eval_return"):
        assert a["counters"][key] == b["counters"][key], key
    assert a["counters"]["train_iter"] > stopped["counters"]["train_iter"] > 0
    assert buffer_a.num_transitions == buffer_b.num_transitions > 0
    for name, tensor in a["policy"]["model"].items():
        assert torch.equal(tensor, b["policy"]["model"][name]), name
    for seg_a, seg_b in zip(buffer_a._segments.values(), buffer_b._segments.values(), strict=True):
        assert np.array_equal(seg_a[0].obs, seg_b[0].obs)


class Unpicklable(gym.Env):
    """A one-number walk that holds a lock: neither picklable nor snapshottable."""

    observation_space = gym.spaces.Box(-100.0, 100.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pos = 0.0
        self.t = 0

    def __reduce__(self) -> Any:
        raise TypeError("Unpicklable cannot be pickled")

    def _obs(self) -> np.ndarray:
        return np.array([self.pos, self.t, 0.0, 0.0], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.pos, self.t = 0.0, 0
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.pos += 1.0 if action else -1.0
        self.t += 1
        return self._obs(), 1.0, False, self.t >= 1000, {}


def unpicklable_envs(num: int = 2) -> BatchEnv:
    return BatchEnv([GymAdapter(Unpicklable(), seed=i) for i in range(num)])


def collecting_task(tmp_path: Path, envs: BatchEnv, policy: Any) -> Task:
    task = Task(TrainContext())
    task.use(env_collect(policy.cfg, policy, envs))
    task.use(ckpt_saver(tmp_path, policy, save_freq=1))
    return task


def test_unsnapshottable_envs_close_their_partial_episodes_as_truncated_on_resume(tmp_path, caplog):
    policy = tiny_policy("muzero", collect_env_steps=7, game_segment_length=10)
    with pytest.raises(Exception, match="cannot be pickled"):
        __import__("pickle").dumps(Unpicklable())
    with caplog.at_level(logging.WARNING):
        ctx = collecting_task(tmp_path, unpicklable_envs(), policy).run(max_steps=3)
    assert ctx.env_step == 42
    assert any("cannot be snapshotted" in r.getMessage() for r in caplog.records)
    # 21 steps per environment: segment 0-9 went out; 10-19 waits for its padding, 20 is open
    saved = load_pair(tmp_path / "ckpt" / "final.pt")[0]["run_state"]["env_collect"]
    assert saved["envs"]["envs"] == [None, None]

    resumed, fresh = (
        TrainContext(),
        tiny_policy("muzero", collect_env_steps=7, game_segment_length=10),
    )
    task = collecting_task(tmp_path, unpicklable_envs(), fresh)
    with caplog.at_level(logging.INFO):
        resume(tmp_path, resumed, fresh, providers=task.state_providers)
    assert any("2 partial episodes (22 transitions)" in r.getMessage() for r in caplog.records)
    handed: list[GameSegment] = []
    task.use(lambda c: handed.extend(c.new_segments))
    task.run(max_steps=1)
    closed = [s for s in handed if s.episode_ended]
    assert sorted(s.length for s in closed) == [1, 1, 10, 10]
    assert not any(s.terminated for s in closed)
    # the truncated end bootstraps from the observation the last transition reached (t=21)
    assert all(s.obs[s.episode_end][1] == 21 for s in closed)
    # new episodes started: the environments were reset
    assert all(env.episode_length == 7 for env in task.chain[0].fn.__self__.envs.envs)


def test_collector_state_round_trip_continues_the_same_episodes(tmp_path):
    """In process: a collector rebuilt from a checkpoint collects what the original would."""

    def make() -> tuple[Any, BatchEnv]:
        return tiny_policy("muzero", collect_env_steps=5), BatchEnv.make("CartPole-v1", 3, seed=1)

    policy, envs = make()
    task = collecting_task(tmp_path, envs, policy)
    task.run(max_steps=2)
    policy2, envs2 = make()
    task2 = collecting_task(tmp_path / "x", envs2, policy2)
    resume(tmp_path, TrainContext(), policy2, providers=task2.state_providers)
    collect_a, collect_b = task.chain[0], task2.chain[0]
    segments_a: list[GameSegment] = []
    segments_b: list[GameSegment] = []
    for call in range(4):
        for collect, out in ((collect_a, segments_a), (collect_b, segments_b)):
            torch.manual_seed(call)
            ctx = TrainContext()
            collect(ctx)
            out += ctx.new_segments
    assert len(segments_a) == len(segments_b) > 0
    for sa, sb in zip(segments_a, segments_b, strict=True):
        assert np.array_equal(sa.obs, sb.obs) and np.array_equal(sa.actions, sb.actions)
        assert sa.length == sb.length and sa.episode_end == sb.episode_end


def test_fewer_environments_on_resume_close_the_extra_episodes(tmp_path):
    policy = tiny_policy("muzero", collect_env_steps=6)
    collecting_task(tmp_path, BatchEnv.make("CartPole-v1", 3, seed=0), policy).run(max_steps=1)
    fresh = tiny_policy("muzero", collect_env_steps=6)
    task = collecting_task(tmp_path / "x", BatchEnv.make("CartPole-v1", 2, seed=0), fresh)
    resume(tmp_path, TrainContext(), fresh, providers=task.state_providers)
    collector = task.chain[0].fn.__self__
    assert collector.obs is None  # nothing continues: every environment starts again
    handed: list[GameSegment] = []
    task.use(lambda c: handed.extend(c.new_segments))
    ctx = task.run(max_steps=1)
    closed = [s for s in handed if s.episode_ended and not s.terminated and s.length == 6]
    assert len(closed) >= 1 and ctx.env_step == 12


def test_async_mode_says_the_collector_state_is_not_checkpointed(tmp_path, caplog):
    policy = tiny_policy("muzero", collect_env_steps=3)
    task = Task(TrainContext())
    task.use(
        env_collect(policy.cfg, policy.acting_copy(0), BatchEnv.make("CartPole-v1", 2, seed=0))
    )
    task.use(lambda ctx: None)
    task.use(ckpt_saver(tmp_path, policy, save_freq=1))
    with caplog.at_level(logging.WARNING):
        task.run(max_steps=2, mode="async")
    state = load_pair(tmp_path / "ckpt" / "final.pt")[0]
    assert state["run_state"] == {}
    lines = [r.getMessage() for r in caplog.records if "async mode" in r.getMessage()]
    assert len(lines) == 1 and "env_collect" in lines[0]


def test_under_ddp_only_rank_0_takes_the_run_state(tmp_path, monkeypatch):
    """The run state is rank 0's collector's: other ranks start their own episodes."""
    policy = tiny_policy("muzero", collect_env_steps=4)
    collecting_task(tmp_path, BatchEnv.make("CartPole-v1", 2, seed=0), policy).run(max_steps=1)
    monkeypatch.setattr("pipezero.checkpoint.resuming._is_writer", lambda: False)
    monkeypatch.setattr("torch.distributed.get_rank", lambda: 1)
    fresh = tiny_policy("muzero", collect_env_steps=4)
    task = collecting_task(tmp_path / "x", BatchEnv.make("CartPole-v1", 2, seed=7), fresh)
    resume(tmp_path, TrainContext(), fresh, providers=task.state_providers)
    assert task.chain[0].fn.__self__.obs is None and task.state_providers.pending == ()
