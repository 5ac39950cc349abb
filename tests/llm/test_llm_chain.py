"""The LLM math recipes end to end on a tiny model: they run, checkpoint, resume, evaluate and
are reproducible."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from pipezero.recipes import appo_math, grpo_math, tppo_math

from pipezero.config import merge_config
from pipezero.evaluate import eval_run
from pipezero.framework import Event
from pipezero.recipe import Run, train

RECIPES = {"appo": appo_math, "grpo": grpo_math, "tppo": tppo_math}
TINY: dict[str, Any] = {
    "max_train_iter": 4,
    "env": {"max_steps": 3, "num_eval_problems": 6, "arithmetic": {"max_ops": 2}},
    "model": {
        "d_model": 32,
        "n_layer": 2,
        "n_head": 2,
        "d_ff": 64,
        "max_len": 128,
        "critic_layers": [16],
    },
    "sft": {"num_steps": 3, "batch_size": 4},
    "collect": {"num_prompts": 2, "group_size": 2, "max_new_tokens": 6},
    "learn": {"minibatch_size": 2},
    "eval": {"eval_freq": 2, "batch_size": 4},
}


def _run(algo: str, exp_dir: Path, seed: int = 0, **extra: Any) -> tuple[Any, Any, list[dict]]:
    cfg = merge_config(RECIPES[algo].CONFIG, TINY)
    cfg = merge_config(cfg, {"seed": seed, "exp_dir": str(exp_dir), **extra})
    task, parts = appo_math.build_with_parts(Run(f"{algo}_math", cfg))
    evals: list[dict] = []
    task.on(Event.EVAL_DONE, lambda ctx, result: evals.append(result))
    ctx = task.run(max_steps=10)
    return ctx, parts, evals


def _sets(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """``--set`` flags giving ``tree``'s leaves."""
    out: list[str] = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out += _sets(value, f"{prefix}{key}.")
        else:
            out += ["--set", f"{prefix}{key}={json.dumps(value)}"]
    return out


@pytest.mark.parametrize("algo", ["appo", "grpo", "tppo"])
def test_chain_runs_a_few_steps(algo: str, tmp_path: Path) -> None:
    ctx, parts, evals = _run(algo, tmp_path)
    assert ctx.finish_reason.startswith("max_train_iter reached")
    assert ctx.sft_iter == 3 and ctx.env_step > 0 and ctx.env_episode >= 4
    assert evals and evals[0]["train_iter"] == 0.0  # the warm start is evaluated first
    assert 0.0 <= evals[-1]["accuracy"] <= 1.0 and evals[-1]["num_problems"] == 6
    assert (parts.policy.critic is None) == (algo == "grpo")
    assert parts.trainer.name == algo


def test_recipe_checkpoints_logs_resumes_and_evaluates(tmp_path: Path, capsys) -> None:
    ctx = train("appo_math", ["--exp-dir", str(tmp_path), "--log-every", "0", *_sets(TINY)])
    assert (tmp_path / "ckpt" / "final.pt").is_file()
    assert (tmp_path / "ckpt" / "best.pt").is_file()
    assert (tmp_path / "config.json").is_file()
    assert any((tmp_path / "tb").iterdir())
    state = torch.load(tmp_path / "ckpt" / "final.pt", weights_only=False)
    assert "policy_opt" in state["policy"] and state["counters"]["sft_iter"] == 3
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1][len("RESULT ") :])
    assert result["algorithm"] == "appo" and result["train_iter"] == ctx.train_iter == 4
    assert result["eval_history"][0]["num_problems"] == 6

    resumed = train("appo_math", ["--resume", str(tmp_path), "--set", "max_train_iter=6"])
    assert resumed.train_iter == 6 and resumed.sft_iter == 3  # no second warm start

    evaluated = eval_run(tmp_path, ckpt="final", episodes=3)
    assert evaluated["num_problems"] == 3 and evaluated["return_mean"] == evaluated["accuracy"]


def test_seeded_runs_are_reproducible(tmp_path: Path) -> None:
    def weights(seed: int, name: str) -> tuple[int, list[torch.Tensor]]:
        steps = {"collect": {"mode": "steps", "rollout_steps": 2}}
        ctx, parts, _ = _run("tppo", tmp_path / name, seed=seed, **steps)
        return ctx.env_step, [p.detach().clone() for p in parts.policy.lm.parameters()]

    steps_a, a = weights(0, "a")
    steps_b, b = weights(0, "b")
    assert steps_a == steps_b
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    _, c = weights(1, "c")
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_grpo_refuses_step_collection() -> None:
    cfg = merge_config(grpo_math.CONFIG, {"collect": {"mode": "steps"}})
    with pytest.raises(ValueError, match="GRPO needs whole episodes"):
        grpo_math.build(Run("grpo_math", cfg))


def test_recipes_show_their_own_help(capsys) -> None:
    for name in ("grpo_math", "tppo_math"):
        with pytest.raises(SystemExit):
            train(name, ["--help"])
        assert RECIPES[name[:4]].__doc__.splitlines()[0] in capsys.readouterr().out
