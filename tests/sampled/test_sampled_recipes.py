"""The Sampled EfficientZero recipes run their whole chain on a tiny budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipezero.recipe import train

SMALL = [
    "policy.collect_env_steps=4",  # 8 envs x 4 = 32 env steps per task step
    "policy.num_simulations=3",
    "policy.num_of_sampled_actions=3",
    "policy.batch_size=8",
    "policy.min_buffer_transitions=1",
    "policy.n_evaluator_episode=1",
    "env.evaluator_env_num=1",
    "policy.eval_freq=1000",
    "policy.model.latent_dim=16",
    "policy.model.hidden_dim=16",
    "policy.model.lstm_hidden_size=8",
    "policy.model.projection_hidden_dim=8",
    "policy.model.projection_dim=8",
    "policy.num_unroll_steps=2",
    "policy.td_steps=2",
    "policy.game_segment_length=8",
]


def _argv(tmp_path: Path, *extra: str) -> list[str]:
    argv = ["--seed", "1", "--exp-dir", str(tmp_path), "--max-env-step", "96"]
    for item in [*SMALL, *extra]:
        argv += ["--set", item]
    return argv


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("sampled_efficientzero_pendulum", ()),
        # one MountainCar evaluation episode is 999 steps: cap it by a short time limit
        ("sampled_efficientzero_mountaincar", ("env.max_episode_steps=50",)),
    ],
)
def test_sampled_recipe_chain_runs(name, extra, tmp_path, capsys):
    ctx = train(name, _argv(tmp_path, *extra))
    assert ctx.env_step == 96 and ctx.train_iter > 0
    assert (tmp_path / "ckpt" / "final.pt").is_file()
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1][len("RESULT ") :])
    assert result["algorithm"] == "sampled_efficientzero" and result["eval_history"]


def test_pendulum_recipe_runs_a_discrete_environment(tmp_path, capsys):
    """The same chain with a categorical head: K of CartPole's 2 actions."""
    argv = [*_argv(tmp_path, "policy.stop_value=None"), "--env-id", "CartPole-v1"]
    ctx = train("sampled_efficientzero_pendulum", argv)
    assert ctx.env_step == 96 and ctx.train_iter > 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1][7:])["env_id"] == (
        "CartPole-v1"
    )
