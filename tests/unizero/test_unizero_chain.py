"""A tiny UniZero chain runs end to end: segment collection, reanalysis, training, eval."""

from __future__ import annotations

import json

from pipezero.middleware import (
    calc_update_count,
    data_push,
    env_collect,
    interval_eval,
    offpolicy_learn,
)
from pipezero.middleware.buffer_reanalyze import ReanalyzeContext, buffer_reanalyze
from unizero_toy import tiny_policy

from pipezero.data import ReplayBuffer
from pipezero.envs import BatchEnv
from pipezero.framework import Task
from pipezero.recipe import train


def test_chain_collects_segments_reanalyses_and_trains():
    policy = tiny_policy(num_segments=2, buffer_reanalyze_freq=1.0, replay_ratio=0.1)
    c = policy.cfg
    buffer = ReplayBuffer(1000, c.num_unroll_steps, c.td_steps, c.discount_factor, seed=0)
    task = Task(ReanalyzeContext())
    task.use(interval_eval(c, policy, BatchEnv.make("CartPole-v1", 2, seed=100)))
    task.use(env_collect(c, policy, BatchEnv.make("CartPole-v1", 2, seed=0)))
    task.use(data_push(buffer, c.priority_eps))
    task.use(buffer_reanalyze(c, policy, buffer))
    task.use(calc_update_count(c))
    task.use(offpolicy_learn(c, policy, buffer))
    ctx = task.run(max_steps=4)
    assert ctx.train_iter > 0 and ctx.reanalyzed_states > 0
    assert ctx.reanalyze_network_calls > 0
    assert buffer.num_segments >= 8  # at least num_segments per collect
    assert ctx.last_eval_iter >= 0


def test_cartpole_recipe_runs_its_chain(tmp_path, capsys):
    small = [
        "policy.num_segments=8",
        "policy.game_segment_length=6",
        "policy.num_unroll_steps=2",
        "policy.td_steps=3",
        "policy.num_simulations=3",
        "policy.batch_size=8",
        "policy.min_buffer_transitions=1",
        "policy.n_evaluator_episode=2",
        "policy.buffer_reanalyze_freq=1.0",
        "policy.reanalyze_batch_size=4",
        "env.evaluator_env_num=2",
        "policy.model.latent_dim=16",
        "policy.model.head_hidden_dim=16",
        "policy.model.encoder_hidden_dim=16",
    ]
    argv = ["--seed", "1", "--exp-dir", str(tmp_path), "--max-env-step", "100"]
    for item in small:
        argv += ["--set", item]
    ctx = train("unizero_cartpole", argv)
    assert ctx.env_step >= 100 and ctx.train_iter > 0 and ctx.reanalyzed_states > 0
    assert (tmp_path / "ckpt" / "final.pt").is_file()
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1][len("RESULT ") :])
    assert result["algorithm"] == "unizero" and result["eval_history"]
