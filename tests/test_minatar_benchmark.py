"""benchmarks/minatar.py end to end with the SB3 baselines at a tiny budget (skips without
stable-baselines3 or minatar; our recipes' own smoke tests live in test_recipes_smoke.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("stable_baselines3") is None
    or importlib.util.find_spec("minatar") is None,
    reason="needs stable-baselines3 (pip install stable-baselines3) and pipezero[minatar]",
)
SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "minatar.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("minatar_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_baselines_and_random_tiny_budget(tmp_path, capsys):
    bench = load_benchmark()
    md = tmp_path / "table.md"
    report = bench.main(
        ["--games", "MinAtar/Breakout-v1", "--seeds", "0", "--env-steps", "600",
         "--eval-episodes", "2", "--algos", "--markdown", str(md)]
    )  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    assert printed["per_game"] == report["per_game"]
    agents = {r["agent"]: r for r in report["runs"]}
    assert set(agents) == {"dqn", "ppo", "random"}
    assert agents["dqn"]["env_steps"] == 600 and agents["ppo"]["env_steps"] >= 600
    for run in agents.values():
        assert run["episodes"] == 2 and run["final_mean"] >= 0
    summary = report["per_game"]["MinAtar/Breakout-v1"]
    assert summary["best_baseline"] == max(agents["dqn"]["final_mean"], agents["ppo"]["final_mean"])
    assert "| Breakout-v1 | dqn |" in md.read_text()


def test_minatar_cnn_is_the_papers_network():
    import gymnasium as gym
    import numpy as np
    import torch

    space = gym.spaces.Box(0, 1, shape=(4, 10, 10), dtype=np.uint8)
    net = load_benchmark().minatar_cnn_class()(space)
    conv, linear = net.body[0], net.body[3]
    assert (conv.out_channels, conv.kernel_size, conv.stride) == (16, (3, 3), (1, 1))
    assert (linear.in_features, linear.out_features) == (16 * 8 * 8, 128)
    assert net(torch.zeros(2, 4, 10, 10)).shape == (2, 128)


def test_results_dir_keeps_runs_and_reuses_them(tmp_path, capsys):
    bench = load_benchmark()
    args = ["--games", "MinAtar/Breakout-v1", "--seeds", "0", "--eval-episodes", "2",
            "--algos", "--baselines", "--results", str(tmp_path)]  # fmt: skip
    first = bench.main(args)["runs"]
    stored = tmp_path / "Breakout_s0_random_100000.json"
    kept = json.loads(stored.read_text())
    assert kept["final_mean"] == first[0]["final_mean"] and kept["command"].endswith(str(tmp_path))
    kept["final_mean"] = -1.0  # a second call reads the file instead of playing again
    stored.write_text(json.dumps(kept))
    assert bench.main(args)["runs"][0]["final_mean"] == -1.0
    assert bench.main([*args, "--rerun"])["runs"][0]["final_mean"] == first[0]["final_mean"]
    capsys.readouterr()


def test_ours_keeps_the_trained_run_and_evaluates_it_again(tmp_path, capsys, monkeypatch):
    """Our recipe at a tiny budget: the result line is kept in the run directory, the evaluation
    runs outside this checkout, and a second call evaluates the kept run without training."""
    bench = load_benchmark()
    monkeypatch.chdir(SCRIPT.parents[1])  # the checkout root, where the eval used to be started
    overrides = ["env.max_episode_steps=50", "policy.model.num_channels=4", "policy.eval_freq=1000"]
    first = bench.run_ours("muzero", "MinAtar/Breakout-v1", 0, 200, 2, overrides, tmp_path)
    run_dir = tmp_path / "muzero_Breakout-v1_s0"
    kept = json.loads((run_dir / "result.json").read_text())
    assert first["env_steps"] == kept["env_step"] >= 200 and first["episodes"] == 2
    final_pt = (run_dir / "ckpt" / "final.pt").stat().st_mtime_ns
    again = bench.run_ours("muzero", "MinAtar/Breakout-v1", 0, 200, 2, overrides, tmp_path)
    assert "trained before" in capsys.readouterr().err
    assert (run_dir / "ckpt" / "final.pt").stat().st_mtime_ns == final_pt  # not trained again
    assert again["final_mean"] == first["final_mean"] and again["train_iter"] == first["train_iter"]


def test_ours_resumes_a_stopped_run(tmp_path, capsys):
    """A run directory with checkpoints but no result line (a run that was stopped) goes on
    from its newest checkpoint to the full budget instead of starting over."""
    bench = load_benchmark()
    overrides = ["env.max_episode_steps=50", "policy.model.num_channels=4", "policy.eval_freq=1000",
                 "policy.min_buffer_transitions=64", "policy.batch_size=32"]  # fmt: skip
    first = bench.run_ours("muzero", "MinAtar/Breakout-v1", 0, 200, 2, overrides, tmp_path)
    run_dir = tmp_path / "muzero_Breakout-v1_s0"
    (run_dir / "result.json").unlink()  # as if it had stopped after its last checkpoint
    longer = bench.run_ours("muzero", "MinAtar/Breakout-v1", 0, 400, 2, overrides, tmp_path)
    assert "stopped before, resuming" in capsys.readouterr().err
    assert longer["env_steps"] >= 400 and longer["train_iter"] > first["train_iter"]
    assert longer["curve"][: len(first["curve"])] == first["curve"]  # the history went on
