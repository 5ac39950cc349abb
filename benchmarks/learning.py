"""Learning benchmark: train a CartPole recipe for several seeds, report time to a target return.

    python benchmarks/learning.py --algo muzero efficientzero --seeds 0 1 2
    python benchmarks/learning.py --algo muzero --seeds 0 --set policy.replay_ratio=0.5

Each seed runs the recipe (``recipes/<algo>_cartpole.py``) in its own process, one after the
other unless ``--jobs`` says otherwise (parallel runs share the CPU: their wall times are
not comparable). For every run the JSON printed on stdout holds the env steps and the wall
time (from process start, imports included) at the first evaluation whose mean return
reached the target, the final and best returns, the number of updates and the peak resident
memory of the process; per algorithm the medians over seeds. A learning-curve PNG (mean
evaluation return against env steps) is written with matplotlib when it is installed
(``pip install matplotlib``; it is not a dependency of pipezero).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipezero.recipe import read_result

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {
    "muzero": ROOT / "recipes" / "muzero_cartpole.py",
    "efficientzero": ROOT / "recipes" / "efficientzero_cartpole.py",
    "gumbel_muzero": ROOT / "recipes" / "gumbel_muzero_cartpole.py",
}


def run_seed(
    algo: str, seed: int, max_env_step: int, overrides: list[str], work_dir: Path
) -> dict[str, Any]:
    """Run one training process; return its summary (see the module docstring)."""
    cmd = [sys.executable, str(RECIPES[algo]), "--seed", str(seed)]
    cmd += ["--exp-dir", str(work_dir / f"{algo}_seed{seed}")]
    cmd += ["--max-env-step", str(max_env_step)]
    for item in overrides:
        cmd += ["--set", item]
    launch = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate()
    parsed = read_result(stdout)
    if proc.returncode != 0 or parsed is None:
        raise RuntimeError(
            f"{algo} seed {seed} failed (exit {proc.returncode}); command: {' '.join(cmd)}\n"
            f"stderr tail:\n{stderr[-3000:]}"
        )
    result = parsed
    history = result.pop("eval_history")
    for point in history:
        point["wall_s_since_launch"] = point["unix_time"] - launch
    return {
        "algorithm": algo,
        "seed": seed,
        "history": history,
        "finish_reason": result["finish_reason"],
        "env_step": result["env_step"],
        "train_iter": result["train_iter"],
        "best_eval_return": result["best_eval_return"],
        "final_eval_return": history[-1]["return_mean"] if history else None,
        "run_wall_s": result["wall_s"],
        "process_wall_s": time.time() - launch,
        "peak_rss_mb": round(result["peak_rss_mb"], 1),  # ru_maxrss of the run's process
    }


def time_to_target(run: dict[str, Any], target: float) -> dict[str, Any]:
    """Env steps, updates and wall time at the first evaluation reaching ``target``."""
    for point in run["history"]:
        if point["return_mean"] >= target:
            return {
                "env_steps_to_target": int(point["env_step"]),
                "train_iter_to_target": int(point["train_iter"]),
                "wall_s_to_target": round(point["wall_s_since_launch"], 1),
            }
    return {"env_steps_to_target": None, "train_iter_to_target": None, "wall_s_to_target": None}


def median_or_none(values: list[float | None]) -> float | None:
    """Median, counting a run that never reached the target (``None``) as infinitely slow;
    ``None`` when the median itself did not reach it."""
    ranked = sorted(float("inf") if v is None else float(v) for v in values)
    if not ranked:
        return None
    n = len(ranked)
    mid = ranked[n // 2] if n % 2 else (ranked[n // 2 - 1] + ranked[n // 2]) / 2
    return None if mid == float("inf") else mid


def plot(runs: list[dict[str, Any]], target: float, path: Path) -> bool:
    """Draw mean evaluation return against env steps; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    algos = sorted({r["algorithm"] for r in runs})
    fig, axes = plt.subplots(1, len(algos), figsize=(6 * len(algos), 4), squeeze=False)
    for ax, algo in zip(axes[0], algos, strict=True):
        for run in (r for r in runs if r["algorithm"] == algo):
            xs = [p["env_step"] for p in run["history"]]
            ys = [p["return_mean"] for p in run["history"]]
            ax.plot(xs, ys, marker=".", label=f"seed {run['seed']}")
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:g}")
        ax.set_title(f"{algo} on CartPole-v0")
        ax.set_xlabel("env steps")
        ax.set_ylabel("mean eval return")
        ax.legend(loc="lower right")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", nargs="+", choices=sorted(RECIPES), default=["muzero"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-env-step", type=int, default=10_000)
    parser.add_argument("--target", type=float, default=195.0)
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (share the CPU)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--plot", type=Path, default=ROOT / "benchmarks" / "learning_curve.png")
    args = parser.parse_args(argv)

    jobs = [(algo, seed) for algo in args.algo for seed in args.seeds]
    with (
        tempfile.TemporaryDirectory(prefix="pipezero-learning-") as tmp,
        ThreadPoolExecutor(max_workers=args.jobs) as pool,
    ):
        futures = [
            pool.submit(run_seed, a, s, args.max_env_step, args.set, Path(tmp)) for a, s in jobs
        ]
        runs = [f.result() for f in futures]
    report: dict[str, Any] = {
        "target": args.target,
        "max_env_step": args.max_env_step,
        "jobs": args.jobs,
        "overrides": args.set,
        "cpu_count": os.cpu_count(),
        "runs": [],
        "median": {},
    }
    for run in runs:
        entry = {k: v for k, v in run.items() if k != "history"}
        entry.update(time_to_target(run, args.target))
        entry["curve"] = [[int(p["env_step"]), round(p["return_mean"], 2)] for p in run["history"]]
        report["runs"].append(entry)
    for algo in args.algo:
        mine = [r for r in report["runs"] if r["algorithm"] == algo]
        report["median"][algo] = {
            key: median_or_none([r[key] for r in mine])
            for key in ("env_steps_to_target", "wall_s_to_target", "train_iter_to_target")
        }
    if plot(runs, args.target, args.plot):
        report["plot"] = str(args.plot)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
