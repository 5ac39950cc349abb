"""benchmarks/multitask_minatar.py end to end at a tiny budget (2 games, 1 seed, --smoke)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("minatar")
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "multitask_minatar.py"
GAMES = ["MinAtar/Breakout-v0", "MinAtar/Asterix-v0"]


def load_benchmark():
    spec = importlib.util.spec_from_file_location("multitask_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.slow  # the multi-task recipe's own smoke run is in the default suite
@pytest.mark.timeout(900)  # 6 subprocesses: about 1 CPU minute, 2 wall minutes when loaded
def test_tiny_budget_reports_a_ratio_per_game(tmp_path, capsys):
    bench = load_benchmark()
    argv = ["--games", *GAMES, "--seeds", "0", "--env-steps", "100", "--eval-episodes", "2"]
    argv += ["--smoke", "--results", str(tmp_path / "runs")]
    report = bench.main(argv)
    assert json.loads(capsys.readouterr().out) == report
    assert report["multitask_env_steps"] == 200
    runs = {(r["agent"], r["game"]): r for r in report["runs"]}
    assert set(runs) == {(agent, g) for agent in ("multitask", "single") for g in GAMES}
    for run in runs.values():
        assert run["episodes"] == 2 and run["final_mean"] >= 0
    assert runs["multitask", GAMES[0]]["env_steps"] >= 200 > runs["single", GAMES[0]]["env_steps"]
    for game in GAMES:
        entry = report["per_game"][game]
        single, multi = entry["single_median"], entry["multitask_median"]
        assert entry["ratio"] == (None if single <= 0 else pytest.approx(multi / single))
    again = bench.main(argv)  # every run is stored: nothing trains again
    assert again["runs"] == report["runs"]


def test_summary_ratio_and_target():
    bench = load_benchmark()
    runs = [
        {"agent": "multitask", "game": "A", "final_mean": 8.0},
        {"agent": "multitask", "game": "A", "final_mean": 10.0},
        {"agent": "single", "game": "A", "final_mean": 10.0},
        {"agent": "single", "game": "A", "final_mean": 12.0},
        {"agent": "multitask", "game": "B", "final_mean": 1.0},
        {"agent": "single", "game": "B", "final_mean": 2.0},
    ]
    summary = bench.summarise(runs, ["A", "B"])
    assert summary["per_game"]["A"]["ratio"] == pytest.approx(9 / 11)
    assert summary["per_game"]["A"]["meets_target"] is True
    assert summary["per_game"]["B"]["meets_target"] is False
    assert summary["all_met"] is False
