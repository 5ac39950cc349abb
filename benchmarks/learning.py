"""Learning benchmark: train a CartPole recipe for several seeds, report time to a target return.

    python benchmarks/learning.py --algo muzero efficientzero --seeds 0 1 2
    python benchmarks/learning.py --algo muzero --seeds 0 --set policy.replay_ratio=0.5

Each seed runs the recipe (``recipes/<algo>_cartpole.py``) in its own process, one after the
other unless ``--jobs`` says otherwise (parallel runs share the CPU: their wall times are
not comparable). For every run the JSON printed on stdout holds the env steps and the wall
time (from process start, imports included) at the first evaluation whose mean return
reached the target and that evaluation's mean return (the stopping evaluation, 8 episodes), the
final and best returns, the number of updates, the peak resident memory of the process and
``reeval``: ``best.pt`` (the stopping evaluation's weights) and ``final.pt`` played on
``--reeval-episodes`` fresh episodes (default 32, environments seeded from seed + 20,000; 0
skips it), each with ``holds_target``; per algorithm the medians over seeds. The runs are
made by :func:`pipezero.recipe.benchmark_run`. With ``--plot FILE`` a learning-curve PNG (mean
evaluation return against env steps) is written with matplotlib when it is installed
(``pip install matplotlib``; it is not a dependency of pipezero).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipezero.recipe import REEVAL_EPISODES, benchmark_run, git_commit, median_or_none

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {
    "muzero": ROOT / "recipes" / "muzero_cartpole.py",
    "efficientzero": ROOT / "recipes" / "efficientzero_cartpole.py",
    "gumbel_muzero": ROOT / "recipes" / "gumbel_muzero_cartpole.py",
}


def run_seed(
    algo: str,
    seed: int,
    max_env_step: int,
    overrides: list[str],
    work_dir: Path,
    target: float = 195.0,
    reeval_episodes: int = REEVAL_EPISODES,
) -> dict[str, Any]:
    """Run one training process and re-evaluate it (:func:`pipezero.recipe.benchmark_run`);
    return its summary (see the module docstring)."""
    run = benchmark_run(
        RECIPES[algo],
        seed=seed,
        exp_dir=work_dir / f"{algo}_seed{seed}",
        target=target,
        max_env_step=max_env_step,
        overrides=overrides,
        reeval_episodes=reeval_episodes,
    )
    history = run.pop("result")["eval_history"]
    return {"algorithm": algo, **run, "history": history}


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
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="write the learning curves to this PNG (default: none)",
    )
    parser.add_argument(
        "--reeval-episodes",
        type=int,
        default=REEVAL_EPISODES,
        help="fresh episodes re-evaluating best.pt and final.pt of every run (0: none)",
    )
    args = parser.parse_args(argv)

    jobs = [(algo, seed) for algo in args.algo for seed in args.seeds]
    with (
        tempfile.TemporaryDirectory(prefix="pipezero-learning-") as tmp,
        ThreadPoolExecutor(max_workers=args.jobs) as pool,
    ):
        futures = [
            pool.submit(
                run_seed,
                *(a, s, args.max_env_step, args.set, Path(tmp)),
                target=args.target,
                reeval_episodes=args.reeval_episodes,
            )
            for a, s in jobs
        ]
        runs = [f.result() for f in futures]
    report: dict[str, Any] = {
        "commit": git_commit(ROOT),
        "target": args.target,
        "max_env_step": args.max_env_step,
        "jobs": args.jobs,
        "reeval_episodes": args.reeval_episodes,
        "overrides": args.set,
        "cpu_count": os.cpu_count(),
        "runs": [],
        "median": {},
    }
    report["runs"] = [{k: v for k, v in run.items() if k != "history"} for run in runs]
    for algo in args.algo:
        mine = [r for r in report["runs"] if r["algorithm"] == algo]
        report["median"][algo] = {
            key: median_or_none([r[key] for r in mine])
            for key in ("env_steps_to_target", "wall_s_to_target", "train_iter_to_target")
        }
    if args.plot is not None and plot(runs, args.target, args.plot):
        report["plot"] = str(args.plot)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
