"""Learning benchmark of Sampled EfficientZero on continuous control (Pendulum-v1 by default).

    python benchmarks/sampled.py --seeds 0 1 2
    python benchmarks/sampled.py --seeds 0 1 2 --lock /tmp/pipezero-cpu.lock
    python benchmarks/sampled.py --env mountaincar --seeds 0 --max-env-step 100000
    python benchmarks/sampled.py --from-logs run0.log run1.log run2.log

Each seed runs ``recipes/sampled_efficientzero_<env>.py`` in its own process, one after the
other; with ``--lock PATH`` every run is started under ``flock PATH`` so that it holds a shared
CPU lock only while it runs. ``--from-logs`` summarises recipe outputs saved earlier instead
(their ``RESULT`` lines). The JSON printed on stdout holds, per run, the evaluation curve
(env steps, mean return), the env steps (and the wall time since the run's first evaluation)
at the first evaluation whose mean return reached ``--target`` (Pendulum: -250), the best and
final mean returns; and the medians
over seeds (a run that never reached the target counts as infinitely slow).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

from pipezero.recipe import median_or_none, read_result

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {
    "pendulum": ROOT / "recipes" / "sampled_efficientzero_pendulum.py",
    "mountaincar": ROOT / "recipes" / "sampled_efficientzero_mountaincar.py",
}
TARGETS = {"pendulum": -250.0, "mountaincar": 90.0}


def parse_result(stdout: str, source: str) -> dict[str, Any]:
    """The ``RESULT {json}`` line of a recipe's output."""
    result = read_result(stdout)
    if result is None:
        raise RuntimeError(f"{source}: no 'RESULT {{json}}' line; did the recipe finish?")
    return result


def run_seed(
    env: str, seed: int, max_env_step: int, overrides: list[str], work_dir: Path, lock: str | None
) -> dict[str, Any]:
    """Run one training process and return its ``RESULT`` summary."""
    cmd = [sys.executable, str(RECIPES[env]), "--seed", str(seed)]
    cmd += ["--exp-dir", str(work_dir / f"{env}_seed{seed}"), "--max-env-step", str(max_env_step)]
    for item in overrides:
        cmd += ["--set", item]
    if lock:
        cmd = ["flock", lock, *cmd]
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{env} seed {seed} failed (exit {proc.returncode}); command: {' '.join(cmd)}\n"
            f"stderr tail:\n{proc.stderr[-3000:]}"
        )
    result = parse_result(proc.stdout, f"{env} seed {seed}")
    result["process_wall_s"] = time.time() - start
    return result


def summarise(result: dict[str, Any], target: float) -> dict[str, Any]:
    """Curve, first evaluation reaching ``target``, best and final returns of one run."""
    history = result.get("eval_history", [])
    start = history[0]["unix_time"] if history else 0.0
    reached = next((p for p in history if p["return_mean"] >= target), None)
    return {
        "seed": result["seed"],
        "env_id": result.get("env_id"),
        "finish_reason": result["finish_reason"],
        "env_step": result["env_step"],
        "train_iter": result["train_iter"],
        "run_wall_s": round(result["wall_s"], 1),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "best_eval_return": result["best_eval_return"],
        "final_eval_return": history[-1]["return_mean"] if history else None,
        "env_steps_to_target": None if reached is None else int(reached["env_step"]),
        "wall_s_to_target": None if reached is None else round(reached["unix_time"] - start, 1),
        "curve": [[int(p["env_step"]), round(p["return_mean"], 1)] for p in history],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=sorted(RECIPES), default="pendulum")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-env-step", type=int, default=50_000)
    parser.add_argument("--target", type=float, default=None, help="default: per environment")
    parser.add_argument("--lock", default=None, help="run every seed under 'flock LOCK'")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--from-logs", nargs="+", type=Path, default=None, metavar="LOG")
    args = parser.parse_args(argv)
    target = TARGETS[args.env] if args.target is None else args.target

    if args.from_logs:
        results = [parse_result(p.read_text(), str(p)) for p in args.from_logs]
    else:
        with tempfile.TemporaryDirectory(prefix="pipezero-sampled-") as tmp:
            results = [
                run_seed(args.env, s, args.max_env_step, args.set, Path(tmp), args.lock)
                for s in args.seeds
            ]
    runs = [summarise(r, target) for r in results]
    report: dict[str, Any] = {
        "algorithm": "sampled_efficientzero",
        "env": args.env,
        "target": target,
        "max_env_step": args.max_env_step,
        "overrides": args.set,
        "cpu_count": os.cpu_count(),
        "num_seeds": len(runs),
        "runs": runs,
        "median": {
            "env_steps_to_target": median_or_none([r["env_steps_to_target"] for r in runs]),
            "best_eval_return": median(r["best_eval_return"] for r in runs),
            "final_eval_return": median(
                r["final_eval_return"] for r in runs if r["final_eval_return"] is not None
            ),
        },
    }
    report["target_reached"] = report["median"]["env_steps_to_target"] is not None
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
