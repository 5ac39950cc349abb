"""LLM reasoning RL benchmark: held-out accuracy gained by APPO, GRPO (grouped and batch-wide)
and TPPO after a supervised warm start, on generated multi-step arithmetic with the tiny
character LM. Prints JSON and draws an accuracy-vs-RL-time PNG.

    flock /tmp/pipezero-cpu.lock python benchmarks/llm_math.py --seeds 0 1 2 --rl-minutes 15 \\
        --jobs 2 --out llm_math.json --plot llm_math.png

For each seed the warm start (``--sft-steps`` supervised steps) runs once and is shared by the
variants (cached in the work directory). Every run is its own process with one torch thread;
``--jobs`` runs that many at once. The RL budget counts CPU seconds spent in the RL
middleware (``text_rollout``, ``reward_scoring``, ``onpolicy_learn``; the held-out
evaluations are not counted): one RL minute is a minute of one core's work, so a run gets the
same RL compute however many jobs share the machine (wall time grows instead). Per variant
the JSON gives the median over seeds of the accuracy gain (final accuracy minus the warm
start's), and each run its warm start's ``warm_start_sha256`` (a fingerprint of the weights:
the same code and seed train other weights on another machine, and GRPO's gain depends on
them; compare it before comparing runs). Extra ``--set key=value`` pairs override the
recipes' config.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipezero.recipe import read_result

#: variant -> overrides of ``appo_math.CONFIG`` ("learn.algo" picks the trainer)
#: (the GRPO pair are the recipe's settings, differing only in the normalisation)
VARIANTS: dict[str, dict[str, Any]] = {
    "grpo": {
        "learn": {"algo": "grpo", "grpo_credit": "step"},
        "collect": {"num_prompts": 16, "group_size": 8},
    },
    "appo": {"learn": {"algo": "appo"}},
    "tppo": {"learn": {"algo": "tppo"}},
    "grpo_batch": {
        "learn": {"algo": "grpo", "grpo_credit": "step", "grpo_normalization": "batch"},
        "collect": {"num_prompts": 16, "group_size": 8},
    },
}
RL_MIDDLEWARE = ("text_rollout", "reward_scoring", "onpolicy_learn")
#: learner / collection statistics averaged over a run (diagnostics in the JSON)
TRAIN_STATS = ("policy_skipped", "approx_kl", "clipfrac", "entropy", "value_loss", "train_accuracy")


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _weights_sha256(path: str) -> str:
    """:func:`~pipezero.checkpoint.state_dict_fingerprint` of a saved state dict: two runs
    started from the same warm start when these agree."""
    import torch

    from pipezero.checkpoint import state_dict_fingerprint

    return state_dict_fingerprint(torch.load(path, map_location="cpu", weights_only=True))


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One run in this process (``--worker``): warm start only, or warm start + RL."""
    import torch
    from pipezero.recipes.appo_math import CONFIG, build_with_parts

    from pipezero.config import merge_config
    from pipezero.framework import Event, Task, middleware
    from pipezero.policy.llm.evaluation import evaluate_accuracy
    from pipezero.recipe import Run

    torch.set_num_threads(1)
    cfg = merge_config(CONFIG, spec["config"])
    budget = spec["rl_seconds"]
    refs: dict[str, Any] = {"rl_s": 0.0, "clock": (time.process_time(), time.perf_counter())}
    train: dict[str, list[float]] = {}

    def rl_budget(ctx: Any) -> None:
        # Runs after every other working middleware of the step. The step's CPU time (one
        # torch thread: the process is single-threaded) is shared out by the middleware's wall
        # times, so the budget counts compute, whatever else runs on the machine.
        cpu, wall = time.process_time(), time.perf_counter()
        step_cpu, step_wall = cpu - refs["clock"][0], wall - refs["clock"][1]
        refs["clock"] = (cpu, wall)
        rl_wall = sum(ctx.timings.get(name, 0.0) for name in RL_MIDDLEWARE)
        refs["rl_s"] += step_cpu * min(1.0, rl_wall / step_wall) if step_wall > 0 else 0.0
        if ctx.train_output:
            stats = {**ctx.train_output, **ctx.train_output["collect"]}
            for key in TRAIN_STATS:
                if key in stats:
                    train.setdefault(key, []).append(stats[key])
        if refs["rl_s"] >= budget:
            refs["task"].finish(f"RL budget of {budget:.0f} s spent")

    def setup(task: Task) -> None:
        refs["task"] = task

    task, parts = build_with_parts(Run("appo_math", cfg))
    task.use(middleware(rl_budget, name="rl_budget", setup=setup))
    curve: list[dict[str, float]] = []

    def on_eval(ctx: Any, result: dict[str, float]) -> None:
        curve.append({**result, "rl_s": refs["rl_s"]})
        print(  # progress in the run's log (the parent reads stdout)
            f"eval rl_s={refs['rl_s']:.0f} train_iter={ctx.train_iter} "
            f"accuracy={result['accuracy']:.4f}",
            file=sys.stderr,
            flush=True,
        )

    task.on(Event.EVAL_DONE, on_eval)
    start = time.perf_counter()
    ctx = task.run(max_steps=1 if budget <= 0 else None)
    if budget > 0 and curve[-1]["train_iter"] != ctx.train_iter:
        final = evaluate_accuracy(
            parts.policy, parts.eval_problems, parts.prompt, cfg.env.max_steps
        )
        curve.append({**final, "train_iter": float(ctx.train_iter), "rl_s": refs["rl_s"]})
    return {
        "finish_reason": ctx.finish_reason,
        "warm_start_accuracy": curve[0]["accuracy"],
        "warm_start_sha256": _weights_sha256(cfg.sft.cache_path),
        "final_accuracy": curve[-1]["accuracy"],
        "gain": curve[-1]["accuracy"] - curve[0]["accuracy"],
        "rl_seconds": refs["rl_s"],
        "wall_seconds": time.perf_counter() - start,
        "train_iter": ctx.train_iter,
        "env_step": ctx.env_step,
        "episodes": ctx.env_episode,
        "train_means": {k: sum(v) / len(v) for k, v in train.items()},
        "curve": [
            {
                k: p[k]
                for k in ("rl_s", "train_iter", "env_step", "accuracy", "mean_steps")
                if k in p
            }
            for p in curve
        ],
    }


_RECORD_LOCK = threading.Lock()


def _launch(spec: dict[str, Any], log: Path, record: Path | None = None) -> dict[str, Any]:
    """Run one worker process; its result is also appended to ``record`` (JSON lines) as
    soon as it ends, so finished runs survive an interrupted benchmark."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    with log.open("w") as err:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    parsed = read_result(proc.stdout)
    if proc.returncode != 0 or parsed is None:
        raise RuntimeError(f"run failed (exit {proc.returncode}), log: {log}")
    result = parsed
    if record is not None:
        with _RECORD_LOCK, record.open("a") as f:
            f.write(json.dumps({"log": log.name, **result}) + "\n")
    return result


def _plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = dict(zip(VARIANTS, ("C0", "C1", "C2", "C3"), strict=True))
    for run in runs:
        xs = [p["rl_s"] / 60 for p in run["curve"]]
        ys = [100 * p["accuracy"] for p in run["curve"]]
        first = all(r["variant"] != run["variant"] or r is run for r in runs[: runs.index(run)])
        ax.plot(
            xs, ys, color=colors[run["variant"]], alpha=0.8, label=run["variant"] if first else None
        )
    ax.set_xlabel("RL CPU time (minutes of one core, evaluation excluded)")
    ax.set_ylabel("held-out exact-answer accuracy (%)")
    ax.set_title("tiny char LM on multi-step arithmetic, after a supervised warm start")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--rl-minutes", type=float, default=15.0)
    parser.add_argument("--sft-steps", type=int, default=None, help="default: the recipes'")
    parser.add_argument("--eval-freq", type=int, default=None, help="updates between evals")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))))
        return
    from pipezero.config import parse_set_overrides

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="pipezero-llm-math-"))
    work.mkdir(parents=True, exist_ok=True)
    base = parse_set_overrides(args.set)
    if args.sft_steps is not None:
        base = _merge(base, {"sft": {"num_steps": args.sft_steps}})
    if args.eval_freq is not None:
        base = _merge(base, {"eval": {"eval_freq": args.eval_freq}})

    def spec(seed: int, variant: str, rl_seconds: float) -> dict[str, Any]:
        cache = {"sft": {"cache_path": str(work / f"warm_start_seed{seed}.pt")}}
        name = f"{variant}_seed{seed}" if rl_seconds > 0 else f"warm_start_seed{seed}"
        run = {"seed": seed, "exp_dir": str(work / name)}  # checkpoints of the run
        config = _merge(_merge(_merge(base, VARIANTS[variant]), cache), run)
        return {"config": config, "rl_seconds": rl_seconds}

    started = time.time()
    with ThreadPoolExecutor(args.jobs) as pool:
        warm = {
            s: pool.submit(_launch, spec(s, "appo", 0.0), work / f"warm_start_seed{s}.log")
            for s in args.seeds
        }
        warm_results = {s: f.result() for s, f in warm.items()}
        jobs = [
            (
                s,
                v,
                pool.submit(
                    _launch,
                    spec(s, v, 60 * args.rl_minutes),
                    work / f"{v}_seed{s}.log",
                    work / "runs.jsonl",
                ),
            )
            for v in args.variants
            for s in args.seeds
        ]
        runs = [{"seed": s, "variant": v, **f.result()} for s, v, f in jobs]
    summary = {
        v: {
            "median_gain": statistics.median(r["gain"] for r in runs if r["variant"] == v),
            "median_warm_start_accuracy": statistics.median(
                r["warm_start_accuracy"] for r in runs if r["variant"] == v
            ),
            "median_final_accuracy": statistics.median(
                r["final_accuracy"] for r in runs if r["variant"] == v
            ),
            "gains": [r["gain"] for r in runs if r["variant"] == v],
        }
        for v in args.variants
    }
    result = {
        "command": " ".join(sys.argv),
        "seeds": args.seeds,
        "rl_minutes": args.rl_minutes,
        "jobs": args.jobs,
        "warm_start_wall_seconds": {s: r["wall_seconds"] for s, r in warm_results.items()},
        "total_wall_seconds": time.time() - started,
        "summary": summary,
        "runs": runs,
        "work_dir": str(work),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    if args.plot is not None:
        _plot(runs, args.plot)


if __name__ == "__main__":
    main()
