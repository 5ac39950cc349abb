"""CartPole-v0 MuZero side by side: pipezero's recipe against LightZero 0.2.0's own preset.

    python benchmarks/cartpole_vs_lightzero.py --seeds 0 1 2 --out cartpole_vs_lz.json

Per seed, in one command on one machine, one after the other (the order alternates from seed
to seed, so a load change hits both sides alike), each in its own process on one thread:

- **LightZero**: its CartPole MuZero preset (``../shared/anchors/lightzero_cartpole.py``,
  run with the anchor venv's python) with one change, ``stop_value`` = ``--target`` (the
  preset's own, 200 over its 3 evaluation episodes, with ``--lz-stop-value 200``); the wall
  time is from its process's start to the stop. Then its ``ckpt_best.pth.tar`` (the stopping
  evaluation's weights) is played on ``--reeval-episodes`` fresh episodes by LightZero's own
  evaluator (``benchmarks/lightzero_reeval.py``).
- **pipezero**: ``recipes/muzero_cartpole.py`` (stop at a mean of ``--target`` over its 32
  evaluation episodes), timed from its process's launch to that evaluation, then ``best.pt``
  re-evaluated on ``--reeval-episodes`` fresh episodes
  (:func:`pipezero.recipe.benchmark_run`).

A side *solved* CartPole when its stopping checkpoint still reaches the target on the
re-evaluation. The figure is the ratio of wall times to the stop, LightZero over pipezero, per
seed and of the medians. JSON on stdout (``--out`` also writes it); progress on stderr. Wrap it
in ``flock /tmp/pipezero-cpu.lock`` on a shared machine: load averages before and after are
recorded beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pipezero.recipe import FRESH_SEED_OFFSET, REEVAL_EPISODES, benchmark_run, git_commit

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "muzero_cartpole.py"
DEFAULT_ANCHORS = ROOT.parent / "shared" / "anchors"
DEFAULT_LZ_VENV = Path(os.environ.get("LZ_VENV", Path(tempfile.gettempdir()) / "anchors" / "lz"))


#: LightZero writes its run under ``"./" + exp_name``; the anchor passes an absolute exp_name,
#: which lands where asked only when the working directory is the root.
LZ_CWD = "/"


def log(message: str) -> None:
    print(
        f"[cartpole_vs_lightzero {time.strftime('%H:%M:%S')}] {message}",
        file=sys.stderr,
        flush=True,
    )


def run_anchor(cmd: list[str], what: str) -> dict[str, Any]:
    """Run one anchor-venv command from ``LZ_CWD``; its last JSON line, or an error naming the
    command with the tail of its stderr."""
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=LZ_CWD, check=False)
    lines = [x for x in proc.stdout.strip().splitlines() if x.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"{what} failed (exit {proc.returncode}, {len(lines)} JSON lines): {' '.join(cmd)}"
            f"\nstderr tail:\n{proc.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


def run_lightzero(
    python: Path,
    anchors: Path,
    seed: int,
    target: float,
    stop_value: float,
    max_env_step: int,
    exp_dir: Path,
    reeval_episodes: int,
) -> dict[str, Any]:
    """Train the LightZero preset until its evaluation reaches ``stop_value``; re-evaluate
    its stopping checkpoint against ``target``."""
    cmd = [
        str(python),
        str(anchors / "lightzero_cartpole.py"),
        "--seed",
        str(seed),
        "--stop-value",
        str(stop_value),
        "--max-env-step",
        str(max_env_step),
        "--exp-dir",
        str(exp_dir),
    ]
    run = run_anchor(cmd, "LightZero training")
    evals = run.get("evals", [])
    reached = bool(evals) and evals[-1]["return_mean"] >= stop_value
    out = {
        "wall_s_to_stop": run["wall_s"],
        "reached_target": reached,
        "env_steps": run["env_steps"],
        "train_iter": run["train_iter"],
        "stopping_eval_return": evals[-1]["return_mean"] if evals else None,
        "stopping_eval_episodes": 3,
        "evaluations": len(evals),
    }
    if reeval_episodes > 0:
        cmd = [
            str(python),
            str(ROOT / "benchmarks" / "lightzero_reeval.py"),
            "--exp-dir",
            str(exp_dir),
            "--episodes",
            str(reeval_episodes),
            "--seed",
            str(seed + FRESH_SEED_OFFSET),
        ]
        reeval = run_anchor(cmd, "LightZero re-evaluation")
        reeval["holds_target"] = reeval["return_mean"] >= target
        out["reeval_best"] = reeval
    out["solved"] = reached and out.get("reeval_best", {}).get("holds_target", True)
    return out


def run_pipezero(
    seed: int, target: float, max_env_step: int, exp_dir: Path, reeval_episodes: int
) -> dict[str, Any]:
    """Train ``recipes/muzero_cartpole.py`` to ``target``; re-evaluate its ``best.pt``."""
    run = benchmark_run(
        RECIPE,
        seed=seed,
        exp_dir=exp_dir,
        target=target,
        max_env_step=max_env_step,
        reeval_episodes=reeval_episodes,
        ckpts=("best",),
    )
    reached = run["env_steps_to_target"] is not None
    out = {
        "wall_s_to_stop": run["wall_s_to_target"] if reached else run["process_wall_s"],
        "reached_target": reached,
        "env_steps": run["env_steps_to_target"] if reached else run["env_step"],
        "train_iter": run["train_iter_to_target"] if reached else run["train_iter"],
        "stopping_eval_return": run["stopping_eval_return"],
        "stopping_eval_episodes": run["stopping_eval_episodes"],
        "evaluations": len(run["curve"]),
    }
    if "reeval" in run:
        out["reeval_best"] = run["reeval"]["best"]
    out["solved"] = reached and out.get("reeval_best", {}).get("holds_target", True)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--target",
        type=float,
        default=195.0,
        help="the mean return both sides stop at and are judged on",
    )
    parser.add_argument(
        "--lz-stop-value",
        type=float,
        default=None,
        help="LightZero's stop instead of --target (its preset's own: 200); "
        "both sides are still judged on --target",
    )
    parser.add_argument("--max-env-step", type=int, default=20_000, help="pipezero's budget")
    parser.add_argument(
        "--lz-max-env-step", type=int, default=100_000, help="LightZero's budget (its preset's)"
    )
    parser.add_argument("--reeval-episodes", type=int, default=REEVAL_EPISODES)
    parser.add_argument("--anchor-dir", type=Path, default=DEFAULT_ANCHORS)
    parser.add_argument("--anchor-python", type=Path, default=DEFAULT_LZ_VENV / "bin" / "python")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="keep the runs here (default: a temporary directory)",
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    if not (args.anchor_dir / "lightzero_cartpole.py").is_file():
        sys.exit(
            f"{args.anchor_dir / 'lightzero_cartpole.py'} not found; pass --anchor-dir "
            "(the shared anchors directory)"
        )
    if not args.anchor_python.exists():
        sys.exit(
            f"the LightZero 0.2.0 anchor venv is missing ({args.anchor_python} not found)."
            f"\nBuild it once (about 5 minutes, prints 'ready'):\n"
            f"    bash {args.anchor_dir / 'setup_lightzero.sh'}\n"
            "or point --anchor-python (or LZ_VENV) at an existing one."
        )
    lz_stop = args.target if args.lz_stop_value is None else args.lz_stop_value
    os.environ["OMP_NUM_THREADS"] = "1"  # one thread per side, children included
    load_before = os.getloadavg()
    commit = git_commit(ROOT)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cartpole_vs_lz_") as tmp:
        work = (args.work_dir or Path(tmp)).resolve()
        for i, seed in enumerate(args.seeds):
            order = ["lightzero", "pipezero"] if i % 2 == 0 else ["pipezero", "lightzero"]
            row: dict[str, Any] = {"seed": seed}
            for side in order:
                exp_dir = work / f"{side}_seed{seed}"
                exp_dir.parent.mkdir(parents=True, exist_ok=True)
                log(f"seed {seed}: training {side} ...")
                if side == "lightzero":
                    row[side] = run_lightzero(
                        args.anchor_python,
                        args.anchor_dir,
                        seed,
                        args.target,
                        lz_stop,
                        args.lz_max_env_step,
                        exp_dir,
                        args.reeval_episodes,
                    )
                else:
                    row[side] = run_pipezero(
                        seed, args.target, args.max_env_step, exp_dir, args.reeval_episodes
                    )
                r = row[side]
                log(
                    f"seed {seed}: {side} stopped after {r['wall_s_to_stop']} s, "
                    f"{r['env_steps']} env steps; solved: {r['solved']}"
                )
            row["wall_ratio"] = round(
                row["lightzero"]["wall_s_to_stop"] / row["pipezero"]["wall_s_to_stop"], 1
            )
            runs.append(row)
    medians = {
        side: {
            "wall_s_to_stop": statistics.median(r[side]["wall_s_to_stop"] for r in runs),
            "env_steps": statistics.median(r[side]["env_steps"] for r in runs),
            "solved": sum(r[side]["solved"] for r in runs),
        }
        for side in ("lightzero", "pipezero")
    }
    out = {
        "benchmark": "CartPole-v0 MuZero, wall time to the target, one thread per side",
        "commit": commit,
        "target": args.target,
        "lightzero_stop_value": lz_stop,
        "reeval_episodes": args.reeval_episodes,
        "seeds": args.seeds,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "runs": runs,
        "median": medians,
        "ratio_of_median_wall": round(
            medians["lightzero"]["wall_s_to_stop"] / medians["pipezero"]["wall_s_to_stop"], 1
        ),
        "median_of_seed_ratios": statistics.median(r["wall_ratio"] for r in runs),
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return out


if __name__ == "__main__":
    main()
