"""Async speed benchmark: env steps per second of sync vs async mode on a CartPole recipe.

    python benchmarks/async_speed.py --seeds 0 1 2 --max-env-step 4000
    python benchmarks/async_speed.py --configs sync async-process --seeds 0

Every run trains the recipe (default ``recipes/muzero_cartpole.py``) in its own process, one
run at a time, for the same env-step budget with the early stop disabled
(``policy.stop_value=None``), so that every configuration spends the whole budget. A run's
speed is its env steps divided by its wall time (the recipe's ``wall_s``: model building,
training, evaluations and checkpoints). Then this script plays the run's final checkpoint
for ``--final-episodes`` episodes (deterministic evaluation, fixed seed, in this process) to
give the *final return* with the same yardstick for every configuration.

Configurations: ``sync``; ``async-thread`` (every role a thread); ``async-process``
(collector and evaluator in their own processes, evaluator at niceness +10: the recipes'
default for ``--mode async``). JSON on stdout: every run, then per configuration the median
env steps/s, final return and updates over the seeds, and the speed-up against ``sync``.
Wrap it in ``flock /tmp/pipezero-cpu.lock`` on a shared machine; the load average before and
after is recorded beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from pipezero.recipe import run_recipe

ROOT = Path(__file__).resolve().parents[1]
# This script's directory comes first on sys.path, and its minatar.py would hide the minatar
# package from the in-process evaluation of a MinAtar recipe's run: take it off.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
CONFIGS = {
    "sync": ["--mode", "sync"],
    "async-thread": ["--mode", "async", "--backend", "thread"],
    "async-process": ["--mode", "async", "--backend", "process"],
}


def run_once(
    recipe: Path, config: str, seed: int, max_env_step: int, extra: list[str], work: Path
) -> dict[str, Any]:
    """Train once; return the recipe's RESULT summary plus the run directory."""
    result = run_recipe(
        recipe,
        seed=seed,
        exp_dir=work / f"{config}_seed{seed}",
        max_env_step=max_env_step,
        overrides=["policy.stop_value=None", *extra],
        flags=CONFIGS[config],
    )
    history = result.pop("eval_history")
    return {
        "config": config,
        "seed": seed,
        "env_step": result["env_step"],
        "train_iter": result["train_iter"],
        "wall_s": round(result["wall_s"], 2),
        "env_steps_per_s": round(result["env_step"] / result["wall_s"], 1),
        "updates_per_s": round(result["train_iter"] / result["wall_s"], 1),
        "evaluations": len(history),
        "last_eval_return": history[-1]["return_mean"] if history else None,
        "best_eval_return": result["best_eval_return"],
        "exp_dir": result["exp_dir"],
    }


def final_return(exp_dir: str, episodes: int) -> float:
    """Mean return of the final checkpoint over ``episodes`` deterministic episodes, played
    by the run's own evaluator (``pipezero eval``) on environments seeded 123456 onwards."""
    import torch

    from pipezero.evaluate import eval_run
    from pipezero.recipe import EVAL_SEED_OFFSET

    torch.set_num_threads(1)
    result = eval_run(exp_dir, ckpt="final", episodes=episodes, seed=123_456 - EVAL_SEED_OFFSET)
    return float(result["return_mean"])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="muzero_cartpole", help="recipes/<name>.py")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-env-step", type=int, default=4000)
    parser.add_argument("--final-episodes", type=int, default=32)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    recipe = ROOT / "recipes" / f"{args.recipe}.py"
    load_before = os.getloadavg()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="async_speed_") as tmp:
        for seed in args.seeds:  # interleave configurations: a load change hits them alike
            for config in args.configs:
                run = run_once(recipe, config, seed, args.max_env_step, args.set, Path(tmp))
                run["final_return"] = final_return(run.pop("exp_dir"), args.final_episodes)
                print(json.dumps(run), file=sys.stderr, flush=True)
                runs.append(run)
    summary: dict[str, Any] = {}
    for config in args.configs:
        mine = [r for r in runs if r["config"] == config]
        summary[config] = {
            key: statistics.median(r[key] for r in mine)
            for key in ("env_steps_per_s", "updates_per_s", "final_return", "wall_s", "env_step")
        }
    if "sync" in summary:
        base = summary["sync"]["env_steps_per_s"]
        base_updates = summary["sync"]["updates_per_s"]
        for figures in summary.values():
            figures["speedup_vs_sync"] = round(figures["env_steps_per_s"] / base, 2)
            figures["update_speedup_vs_sync"] = round(figures["updates_per_s"] / base_updates, 2)
    out = {
        "recipe": args.recipe,
        "max_env_step": args.max_env_step,
        "seeds": args.seeds,
        "overrides": args.set,
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "runs": runs,
        "median": summary,
    }
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
