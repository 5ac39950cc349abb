"""muzero_cartpole runs with --mode async, on both backends, for a few dozen env steps, and its
evaluations reach the checkpointer and the RESULT line (every recipe's async smoke run on
processes is in tests/test_recipes_smoke.py)."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from pipezero.recipe import train

TINY = [
    "policy.collect_env_steps=4",  # 8 envs x 4 = 32 env steps per collector step
    "policy.num_simulations=4",
    "policy.batch_size=16",
    "policy.min_buffer_transitions=1",
    "policy.n_evaluator_episode=2",
    "policy.eval_freq=4",
    "env.evaluator_env_num=2",
    "policy.model.latent_dim=16",
    "policy.model.hidden_dim=16",
    "policy.num_unroll_steps=3",
    "policy.td_steps=5",
    "policy.game_segment_length=8",
    "policy.max_policy_lag=8",
]


@pytest.mark.parametrize("backend", ["process", "thread"])
def test_recipe_runs_async(backend: str, tmp_path: Path, capsys) -> None:
    name = "muzero_cartpole"
    argv = ["--seed", "3", "--exp-dir", str(tmp_path), "--max-env-step", "160"]
    argv += ["--mode", "async", "--backend", backend]
    for item in TINY:
        argv += ["--set", item]
    ctx = train(name, argv)
    assert ctx.finish_reason.startswith("max_env_step reached")
    assert ctx.env_step >= 160 and ctx.train_iter > 0
    ckpt = tmp_path / "ckpt"
    assert (ckpt / "final.pt").is_file()
    assert (ckpt / "best.pt").is_file(), "EVAL_DONE reached the checkpointer"
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1][len("RESULT ") :])
    assert result["eval_history"], "evaluations were delivered to the recipe's handler"
    # The evaluator process sees the collector's env_step (it was 0 in every result before).
    later = [e for e in result["eval_history"] if e["train_iter"] > 0]
    assert later
    assert all(e["env_step"] > 0 for e in later)
    assert multiprocessing.active_children() == []


def test_async_mode_needs_a_known_backend(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        train(
            "muzero_cartpole", ["--exp-dir", str(tmp_path), "--mode", "async", "--backend", "ray"]
        )
    assert exc.value.code == 2
    assert "invalid choice: 'ray'" in capsys.readouterr().err


def test_stop_value_reached_in_the_evaluator_process_finishes_the_run(tmp_path: Path) -> None:
    argv = ["--seed", "1", "--exp-dir", str(tmp_path), "--max-env-step", "100000"]
    argv += ["--mode", "async"]
    for item in [*TINY, "policy.stop_value=1.0"]:  # any evaluation reaches it
        argv += ["--set", item]
    ctx = train("muzero_cartpole", argv)
    assert ctx.finish_reason == "stop_value reached"
    assert ctx.best_eval_return >= 1.0 and ctx.env_step < 100000
    assert (tmp_path / "ckpt" / "final.pt").is_file()
