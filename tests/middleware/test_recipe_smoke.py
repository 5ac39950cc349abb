"""The MuZero CartPole recipe runs its whole chain for a few dozen env steps."""

from __future__ import annotations

import json

import pytest

from pipezero.recipe import train

SMALL = [
    "policy.collect_env_steps=4",  # 8 envs x 4 = 32 env steps per task step
    "policy.num_simulations=4",
    "policy.batch_size=16",
    "policy.min_buffer_transitions=1",
    "policy.n_evaluator_episode=2",
    "env.evaluator_env_num=2",
    "policy.model.latent_dim=16",
    "policy.model.hidden_dim=16",
    "policy.num_unroll_steps=3",
    "policy.td_steps=5",
    "policy.game_segment_length=8",  # segments finish (and training starts) within 16 steps
]


@pytest.mark.parametrize("name", ["muzero_cartpole", "efficientzero_cartpole"])
def test_recipe_chain_runs(name, tmp_path, capsys):
    argv = ["--seed", "3", "--exp-dir", str(tmp_path), "--max-env-step", "64"]
    for item in SMALL:
        argv += ["--set", item]
    ctx = train(name, argv)
    assert ctx.env_step == 64
    assert ctx.finish_reason.startswith("max_env_step reached")
    assert (tmp_path / "ckpt" / "final.pt").is_file()
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1][len("RESULT ") :])
    assert result["env_step"] == 64 and result["eval_history"]


def test_recipe_rejects_unknown_keys_as_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        train("muzero_cartpole", ["--exp-dir", str(tmp_path), "--set", "policy.num_simulation=3"])
    assert exc.value.code == 2
    assert "did you mean 'num_simulations'" in capsys.readouterr().err


def test_recipe_resumes_a_run(tmp_path, capsys):
    argv = ["--seed", "1", "--exp-dir", str(tmp_path)]
    for item in SMALL:
        argv += ["--set", item]
    first = train("muzero_cartpole", [*argv, "--max-env-step", "128"])
    iters = first.train_iter
    second = train("muzero_cartpole", [*argv, "--max-env-step", "256", "--resume", str(tmp_path)])
    assert second.env_step == 256  # continued from 128, not restarted from 0
    assert second.train_iter > iters > 0
