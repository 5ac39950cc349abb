"""LLM reward sources side by side: held-out accuracy gained by GRPO with outcome-only rewards,
the oracle PRM and a learned PRM (``reward.kind``), on generated arithmetic with the tiny
character LM, from one supervised warm start per seed. Prints JSON.

    nice -n 10 flock /tmp/pipezero-cpu.lock python benchmarks/llm_rewards.py --seeds 0 \\
        --updates 240 --jobs 2 --out llm_rewards.json

The RL budget is the same for every variant: ``--updates`` minibatch updates of the GRPO
recipe's settings (16 prompts x 8 samples per collection, step credit, 4 updates per
collection), the same problem stream and sampling generator (the learned PRM's warm-up samples
its training episodes with generators of its own). The warm start (``--sft-steps``) runs once
per seed and is cached in the work directory (a cached one is reused); the learned PRM's
warm-up (sampling the policy's episodes, labelling their steps with the oracle, training) runs
before RL in its own run and is not counted in the RL budget: its wall time, its held-out AUC
and accuracy (on steps of held-out episodes) are reported beside the gains, and each run's
``warm_start_sha256`` (a fingerprint of the warm start's weights, to tell whether two runs
started from the same ones). The learned PRM goes on training during RL on labelled steps of
the policy's own episodes (``reward.learned.refresh_*``); the labels that took, its training
seconds (counted in the RL time) and its ranking of the policy's new steps before it learns
from them (``prm_onpolicy_auc`` over the first and the last tenth of the run) are reported;
``--variants learned_prm_frozen`` adds the PRM frozen after its warm-up. Every run is its
own process with one torch thread; ``--jobs`` runs that many at once. Extra ``--set
key=value`` pairs override the config.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipezero.recipe import read_result

#: the GRPO recipe's settings (recipes/grpo_math.py)
GRPO = {
    "learn": {"algo": "grpo", "grpo_credit": "step"},
    "collect": {"num_prompts": 16, "group_size": 8},
}
VARIANTS = ("outcome", "oracle_prm", "learned_prm", "learned_prm_frozen")
DEFAULT_VARIANTS = ("outcome", "oracle_prm", "learned_prm")
#: each variant's ``reward`` section (``learned_prm_frozen``: trained before RL only)
REWARDS = {
    "outcome": {"kind": "outcome"},
    "oracle_prm": {"kind": "oracle_prm"},
    "learned_prm": {"kind": "learned_prm"},
    "learned_prm_frozen": {"kind": "learned_prm", "learned": {"refresh_episodes": 0}},
}
RL_MIDDLEWARE = ("text_rollout", "reward_scoring", "prm_refresh", "onpolicy_learn")


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
    """One run in this process (``--worker``): the warm start only (``warm_only``), or the
    warm start (loaded from the cache), the PRM warm-up if any, and RL to ``max_train_iter``."""
    import torch
    from pipezero.recipes.appo_math import CONFIG, build_with_parts

    from pipezero.config import merge_config
    from pipezero.framework import Event, middleware
    from pipezero.policy.llm.evaluation import evaluate_accuracy
    from pipezero.recipe import Run

    torch.set_num_threads(1)
    cfg = merge_config(CONFIG, spec["config"])
    task, parts = build_with_parts(Run("appo_math", cfg))
    seconds: dict[str, float] = {}
    found: dict[str, Any] = {"train_accuracy": [], "refresh": []}

    def record(ctx: Any) -> None:  # after the working middleware of each step
        for name, spent in ctx.timings.items():
            seconds[name] = seconds.get(name, 0.0) + spent
        if ctx.prm_output is not None:
            found["prm"] = ctx.prm_output
        if ctx.train_output and "train_accuracy" in ctx.train_output.get("collect", {}):
            found["train_accuracy"].append(ctx.train_output["collect"]["train_accuracy"])
        if ctx.prm_refresh_output is not None:
            found["refresh"].append(ctx.prm_refresh_output)

    task.use(middleware(record, name="reward_benchmark_record"))
    curve: list[dict[str, float]] = []
    task.on(
        Event.EVAL_DONE, lambda ctx, result: curve.append({**result, "train_iter": ctx.train_iter})
    )
    start = time.perf_counter()
    ctx = task.run(max_steps=1 if spec.get("warm_only") else None)
    if not spec.get("warm_only") and curve[-1]["train_iter"] != ctx.train_iter:
        final = evaluate_accuracy(
            parts.policy, parts.eval_problems, parts.prompt, cfg.env.max_steps
        )
        curve.append({**final, "train_iter": ctx.train_iter})
    rl_seconds = sum(seconds.get(name, 0.0) for name in RL_MIDDLEWARE)
    accuracies = found["train_accuracy"]
    refresh = found["refresh"]
    tenth = max(1, len(refresh) // 10)

    def auc(part: list[dict[str, float]]) -> float | None:  # the PRM on the policy's new steps
        values = [r.get("onpolicy_auc", math.nan) for r in part]
        values = [v for v in values if not math.isnan(v)]  # nan: all steps good or all bad
        return sum(values) / len(values) if values else None

    return {
        "warm_start_accuracy": curve[0]["accuracy"],
        "warm_start_sha256": _weights_sha256(cfg.sft.cache_path),
        "final_accuracy": curve[-1]["accuracy"],
        "gain": curve[-1]["accuracy"] - curve[0]["accuracy"],
        "train_iter": ctx.train_iter,
        "env_step": ctx.env_step,
        "episodes": ctx.env_episode,
        "rl_wall_seconds": rl_seconds,
        "reward_scoring_seconds": seconds.get("reward_scoring", 0.0),
        "prm_warmup_seconds": seconds.get("prm_warmup", 0.0),
        "prm_refresh_seconds": seconds.get("prm_refresh", 0.0),
        "prm_refresh_labels": refresh[-1]["labels_total"] if refresh else 0,
        "prm_onpolicy_auc_first_tenth": auc(refresh[:tenth]),
        "prm_onpolicy_auc_last_tenth": auc(refresh[-tenth:]),
        "wall_seconds": time.perf_counter() - start,
        "mean_train_accuracy": sum(accuracies) / len(accuracies) if accuracies else None,
        "prm": found.get("prm"),
        "curve": [{k: p[k] for k in ("train_iter", "accuracy") if k in p} for p in curve],
    }


def _launch(spec: dict[str, Any], log: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    with log.open("w") as err:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    result = read_result(proc.stdout)
    if proc.returncode != 0 or result is None:
        raise RuntimeError(f"run failed (exit {proc.returncode}), log: {log}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=VARIANTS)
    parser.add_argument("--updates", type=int, default=240, help="RL minibatch updates per run")
    parser.add_argument("--sft-steps", type=int, default=1500)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))))
        return
    from pipezero.config import parse_set_overrides

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="pipezero-llm-rewards-"))
    work.mkdir(parents=True, exist_ok=True)
    base = _merge(GRPO, parse_set_overrides(args.set))
    base = _merge(base, {"sft": {"num_steps": args.sft_steps}, "max_train_iter": args.updates})
    base = _merge(base, {"eval": {"eval_freq": args.updates}})  # at the start and the end

    def spec(seed: int, kind: str, warm_only: bool = False) -> dict[str, Any]:
        name = f"warm_start_seed{seed}" if warm_only else f"{kind}_seed{seed}"
        run = {
            "seed": seed,
            "exp_dir": str(work / name),
            "sft": {"cache_path": str(work / f"warm_start_seed{seed}.pt")},
            "reward": REWARDS[kind],
        }
        return {"config": _merge(base, run), "warm_only": warm_only}

    started = time.time()
    with ThreadPoolExecutor(args.jobs) as pool:
        warm = [  # a warm start already cached in the work directory is reused as it is
            pool.submit(_launch, spec(s, "outcome", True), work / f"warm_start_seed{s}.log")
            for s in args.seeds
            if not (work / f"warm_start_seed{s}.pt").is_file()
        ]
        for f in warm:
            f.result()
        longest_first = sorted(args.variants, key=lambda v: not v.startswith("learned"))
        jobs = [
            (s, v, pool.submit(_launch, spec(s, v), work / f"{v}_seed{s}.log"))
            for v in longest_first
            for s in args.seeds
        ]
        runs = [{"seed": s, "variant": v, **f.result()} for s, v, f in jobs]
    summary: dict[str, Any] = {
        v: {
            "median_gain": statistics.median(r["gain"] for r in runs if r["variant"] == v),
            "gains": [r["gain"] for r in runs if r["variant"] == v],
            "final_accuracies": [r["final_accuracy"] for r in runs if r["variant"] == v],
            "warm_start_accuracies": [r["warm_start_accuracy"] for r in runs if r["variant"] == v],
        }
        for v in args.variants
    }
    if {"oracle_prm", "learned_prm"} <= set(args.variants):
        diff = summary["learned_prm"]["median_gain"] - summary["oracle_prm"]["median_gain"]
        summary["learned_minus_oracle_gain"] = diff
        summary["target_within_2_points"] = diff >= -0.02
    result = {
        "benchmark": "llm_rewards",
        "seeds": args.seeds,
        "updates": args.updates,
        "sft_steps": args.sft_steps,
        "overrides": args.set,
        "summary": summary,
        "runs": runs,
        "wall_seconds_total": time.time() - started,
        "work_dir": str(work),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
