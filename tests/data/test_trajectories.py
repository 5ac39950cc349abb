"""Evaluation trajectories: interval_eval records its episodes as game segments, the
segments survive a file round trip, and a replay buffer samples batches from them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from pipezero.middleware.interval_eval import interval_eval

from pipezero.cli import main as cli
from pipezero.data import ReplayBuffer, load_segments, read_segments_meta, save_segments
from pipezero.envs import BatchEnv
from pipezero.framework import Event, Task, TrainContext
from pipezero.recipe import train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policy"))
from policy_toy import tiny_policy

TINY = ["--smoke", "--set", "policy.model.latent_dim=16", "--set", "policy.model.hidden_dim=16"]


def recorded_evaluation(episodes: int = 3):
    policy = tiny_policy("muzero", eval_return_trajectory=True, n_evaluator_episode=episodes)
    task = Task(TrainContext())
    task.use(interval_eval(policy.cfg, policy, BatchEnv.make("CartPole-v1", 2, seed=5)))
    seen: list = []
    task.on(Event.EVAL_DONE, lambda ctx, result: seen.append((result, list(ctx.eval_segments))))
    task.run(max_steps=1)
    return policy, *seen[0]


def test_interval_eval_records_its_counted_episodes_as_segments():
    _, result, segments = recorded_evaluation(episodes=3)
    assert segments and all(s.finished for s in segments)
    assert sum(s.length for s in segments) == result["episode_length_mean"] * 3
    assert sum(s.terminated for s in segments) <= 3  # one last segment per episode
    rewards = sum(float(s.rewards[: s.length].sum()) for s in segments)
    assert rewards == pytest.approx(result["return_mean"] * 3)  # CartPole: +1 per step
    for s in segments:  # the evaluation search's targets and the network's values
        np.testing.assert_allclose(s.child_visits[: s.length].sum(axis=1), 1.0, atol=1e-5)
        assert np.isfinite(s.root_values[: s.length]).all()
        assert np.isfinite(s.pred_values[: s.length]).all()


def test_no_segments_unless_asked():
    policy = tiny_policy("muzero")
    ctx = TrainContext()
    interval_eval(policy.cfg, policy, BatchEnv.make("CartPole-v1", 2, seed=5))(ctx)
    assert ctx.eval_result is not None and ctx.eval_segments == []


def test_saved_segments_round_trip_into_a_replay_buffer(tmp_path):
    policy, result, segments = recorded_evaluation(episodes=4)
    path = save_segments(segments, tmp_path / "eval.npz", {"return_mean": result["return_mean"]})
    loaded = load_segments(path)
    assert read_segments_meta(path) == {"return_mean": result["return_mean"]}
    assert len(loaded) == len(segments)
    for a, b in zip(segments, loaded, strict=True):
        assert (a.length, a.num_padding, a.episode_end, a.terminated) == (
            b.length,
            b.num_padding,
            b.episode_end,
            b.terminated,
        )
        for name in ("obs", "actions", "rewards", "child_visits", "root_values"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = policy.cfg
    buffer = ReplayBuffer(1000, c.num_unroll_steps, c.td_steps, c.discount_factor, seed=0)
    buffer.extend(loaded)
    assert buffer.num_transitions == sum(s.length for s in segments)
    batch = buffer.sample(8)
    assert batch.obs.shape == (8, 4)
    assert not policy.learn(batch).skipped  # a batch the policy trains on


def test_save_segments_refuses_nothing_and_other_files(tmp_path):
    with pytest.raises(ValueError, match="no segment"):
        save_segments([], tmp_path / "x.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a pipezero-segments"):
        load_segments(tmp_path / "other.npz")


def test_pipezero_eval_saves_trajectories(tmp_path, capsys):
    run_dir = tmp_path / "run"
    train("muzero_cartpole", ["--exp-dir", str(run_dir), *TINY])
    capsys.readouterr()
    out = tmp_path / "eval.npz"
    argv = ["eval", str(run_dir), "--episodes", "2", "--save-trajectories", str(out)]
    assert cli(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    segments = load_segments(out)
    assert result["trajectories"] == str(out) and result["num_segments"] == len(segments)
    assert sum(float(s.rewards[: s.length].sum()) for s in segments) == pytest.approx(
        2 * result["return_mean"]
    )
    assert read_segments_meta(out)["recipe"] == "muzero_cartpole"
