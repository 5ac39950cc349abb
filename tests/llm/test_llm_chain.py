"""The recipes' chain end to end on a tiny model: it runs, checkpoints, and is reproducible."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from pipezero.framework import Event

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))
from llm_math_chain import build_task, make_config

TINY: dict[str, Any] = {
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
    "run": {"max_train_iter": 4},
}


def _config(algo: str, **extra: Any) -> Any:
    return make_config({**TINY, "learn": {**TINY["learn"], "algo": algo}}, extra)


def _run(algo: str, seed: int = 0, **extra: Any) -> tuple[Any, Any, list[dict]]:
    cfg = _config(algo, seed=seed, **extra)
    task, parts = build_task(cfg)
    evals: list[dict] = []
    task.on(Event.EVAL_DONE, lambda ctx, result: evals.append(result))
    ctx = task.run(max_steps=10)
    return ctx, parts, evals


@pytest.mark.parametrize("algo", ["appo", "grpo", "tppo"])
def test_chain_runs_a_few_steps(algo: str) -> None:
    ctx, parts, evals = _run(algo)
    assert ctx.finish_reason.startswith("max_train_iter reached")
    assert ctx.sft_iter == 3 and ctx.env_step > 0 and ctx.env_episode >= 4
    assert evals and evals[0]["train_iter"] == 0.0  # the warm start is evaluated first
    assert 0.0 <= evals[-1]["accuracy"] <= 1.0 and evals[-1]["num_problems"] == 6
    assert (parts.policy.critic is None) == (algo == "grpo")


def test_checkpoints_and_tensorboard_are_written(tmp_path: Path) -> None:
    _run("appo", exp_dir=str(tmp_path))
    assert (tmp_path / "ckpt" / "final.pt").is_file()
    assert (tmp_path / "ckpt" / "best.pt").is_file()
    assert any((tmp_path / "tb").iterdir())
    state = torch.load(tmp_path / "ckpt" / "final.pt", weights_only=False)
    assert "policy_opt" in state["policy"] and state["counters"]["sft_iter"] == 3


def test_seeded_runs_are_reproducible() -> None:
    def weights(seed: int) -> tuple[int, list[torch.Tensor]]:
        ctx, parts, _ = _run("tppo", seed=seed, collect={"mode": "steps", "rollout_steps": 2})
        return ctx.env_step, [p.detach().clone() for p in parts.policy.lm.parameters()]

    steps_a, a = weights(0)
    steps_b, b = weights(0)
    assert steps_a == steps_b
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    _, c = weights(1)
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_grpo_refuses_step_collection() -> None:
    with pytest.raises(ValueError, match="GRPO needs whole episodes"):
        build_task(_config("grpo", collect={"mode": "steps"}))
