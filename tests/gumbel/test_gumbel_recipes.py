"""The Gumbel MuZero recipes run their whole chain for a few dozen env steps."""

from __future__ import annotations

import json

import pytest

from pipezero.policy.board_checkpoint import load_board_player
from pipezero.recipe import train

SMALL = [
    "policy.collect_env_steps=4",
    "policy.num_simulations=4",
    "policy.batch_size=16",
    "policy.min_buffer_transitions=1",
    "policy.model.latent_dim=16",
    "policy.model.hidden_dim=16",
    "policy.num_unroll_steps=3",
    "policy.td_steps=5",
    "policy.game_segment_length=8",
]


def result_of(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1][len("RESULT ") :])


def test_cartpole_recipe_runs(tmp_path, capsys):
    argv = ["--seed", "3", "--exp-dir", str(tmp_path), "--max-env-step", "128"]
    for item in [*SMALL, "policy.n_evaluator_episode=2", "env.evaluator_env_num=2"]:
        argv += ["--set", item]
    ctx = train("gumbel_muzero_cartpole", argv)
    assert ctx.env_step == 128 and ctx.train_iter > 0
    assert (tmp_path / "ckpt" / "final.pt").is_file()
    result = result_of(capsys)
    assert result["algorithm"] == "gumbel_muzero" and result["eval_history"]


def test_cartpole_recipe_logs_to_mlflow(tmp_path, capsys):
    pytest.importorskip("mlflow")
    argv = ["--exp-dir", str(tmp_path), "--max-env-step", "32", "--mlflow"]
    for item in [*SMALL, "policy.n_evaluator_episode=2", "env.evaluator_env_num=2"]:
        argv += ["--set", item]
    train("gumbel_muzero_cartpole", argv)
    assert list((tmp_path / "mlruns").glob("*/*/artifacts/checkpoints/final.pt"))
    assert list((tmp_path / "mlruns").glob("*/*/params/policy.max_num_considered_actions"))


@pytest.mark.parametrize("item", ["policy.pb_c_init=1.0", "policy.policy_target=improved"])
def test_cartpole_recipe_rejects_puct_keys(item, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        train("gumbel_muzero_cartpole", ["--exp-dir", str(tmp_path), "--set", item])
    assert exc.value.code == 2
    key = item.split("=")[0]
    assert f"unknown config key '{key}'" in capsys.readouterr().err


@pytest.mark.parametrize("battle_mode", ["play_with_bot", "self_play"])
def test_tictactoe_recipe_runs(battle_mode, tmp_path, capsys):
    argv = ["--seed", "1", "--exp-dir", str(tmp_path), "--max-env-step", "64"]
    small = [*SMALL, f"env.battle_mode={battle_mode}", "eval.n_evaluator_episode=4"]
    for item in small:
        argv += ["--set", item]
    ctx = train("gumbel_muzero_tictactoe", argv)
    assert ctx.env_step >= 64 and ctx.train_iter > 0
    assert (tmp_path / "ckpt" / "final.pt").is_file()
    result = result_of(capsys)
    assert result["battle_mode"] == battle_mode
    assert "vs_rule_bot" in result["eval_history"][0]
    assert result["algorithm"] == "gumbel_muzero"
    player, board, _ = load_board_player(tmp_path, "tictactoe")  # as pipezero play does
    assert board.legal_actions_mask()[player.act(board)]


def test_cartpole_recipe_resumes_a_run(tmp_path, capsys):
    argv = ["--seed", "1", "--exp-dir", str(tmp_path)]
    for item in [*SMALL, "policy.n_evaluator_episode=2", "env.evaluator_env_num=2"]:
        argv += ["--set", item]
    first = train("gumbel_muzero_cartpole", [*argv, "--max-env-step", "128"])
    second = train(
        "gumbel_muzero_cartpole", [*argv, "--max-env-step", "192", "--resume", str(tmp_path)]
    )
    assert second.env_step == 192  # continued from 128, not restarted from 0
    assert second.train_iter > first.train_iter > 0
