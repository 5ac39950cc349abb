"""UniZero benchmark: CartPole learning over seeds, and collect / train throughput.

    python benchmarks/unizero.py learning --seeds 0 1 2
    python benchmarks/unizero.py throughput --env-id CartPole-v0
    python benchmarks/unizero.py throughput --atari --smoke
    python benchmarks/unizero.py throughput --atari --env-id ALE/Breakout-v5 --device cuda

``learning`` runs ``recipes/unizero_cartpole.py`` once per seed, one process after the other,
and reports per seed the env steps, updates and wall time (from process start) at the first
evaluation whose mean return reached the target (195), plus the medians over seeds.

``throughput`` builds the recipe's parts in this process and times them apart: ``env_collect``
calls (acting with search through the KV-cached world model, environment stepping included)
give env steps/s; ``policy.learn`` on batches sampled from the collected data gives train
steps/s (one step = one gradient update of ``batch_size`` sequences). ``--atari`` uses the
settings of ``recipes/unizero_atari.py`` (``--smoke``: its smoke sizes). Both modes print
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from pipezero.recipe import read_result

ROOT = Path(__file__).resolve().parents[1]


def run_seed(seed: int, max_env_step: int, overrides: list[str], work_dir: Path) -> dict:
    """One training process of the CartPole recipe; its RESULT summary and time to target."""
    cmd = [sys.executable, str(ROOT / "recipes" / "unizero_cartpole.py"), "--seed", str(seed)]
    cmd += ["--exp-dir", str(work_dir / f"seed{seed}"), "--max-env-step", str(max_env_step)]
    for item in overrides:
        cmd += ["--set", item]
    launch = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    parsed = read_result(proc.stdout)
    if proc.returncode != 0 or parsed is None:
        raise RuntimeError(
            f"seed {seed} failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}"
        )
    result = parsed
    history = result.pop("eval_history")
    return {
        "seed": seed,
        "finish_reason": result["finish_reason"],
        "env_step": result["env_step"],
        "train_iter": result["train_iter"],
        "best_eval_return": result["best_eval_return"],
        "run_wall_s": round(result["wall_s"], 2),
        "history": [
            {
                "env_step": int(p["env_step"]),
                "train_iter": int(p["train_iter"]),
                "return_mean": p["return_mean"],
                "wall_s_since_launch": round(p["unix_time"] - launch, 2),
            }
            for p in history
        ],
    }


def learning(args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            run = run_seed(seed, args.max_env_step, args.set, Path(tmp))
            hit = next((p for p in run["history"] if p["return_mean"] >= args.target), None)
            run["env_steps_to_target"] = None if hit is None else hit["env_step"]
            run["train_iter_to_target"] = None if hit is None else hit["train_iter"]
            run["wall_s_to_target"] = None if hit is None else hit["wall_s_since_launch"]
            runs.append(run)
    reached = [r for r in runs if r["env_steps_to_target"] is not None]

    def median(key: str) -> float | None:
        # a seed that never reached the target counts as the worst value (inf)
        values = [r[key] if r[key] is not None else float("inf") for r in runs]
        m = statistics.median(values)
        return None if m == float("inf") else m

    return {
        "benchmark": "unizero_learning",
        "env_id": "CartPole-v0",
        "target": args.target,
        "max_env_step": args.max_env_step,
        "overrides": args.set,
        "seeds_reaching_target": len(reached),
        "median_env_steps_to_target": median("env_steps_to_target"),
        "median_train_iter_to_target": median("train_iter_to_target"),
        "median_wall_s_to_target": median("wall_s_to_target"),
        "median_best_eval_return": statistics.median(r["best_eval_return"] for r in runs),
        "runs": runs,
    }


def throughput(args: argparse.Namespace) -> dict[str, Any]:
    from pipezero.middleware.env_collect import env_collect

    from pipezero.config import merge_config, parse_set_overrides
    from pipezero.data import ReplayBuffer
    from pipezero.framework import TrainContext
    from pipezero.model.unizero import UniZeroModel
    from pipezero.policy.unizero import UniZeroPolicy
    from pipezero.recipe import Run, load_recipe, smoke_config

    torch.set_num_threads(args.threads)
    recipe = load_recipe("unizero_atari" if args.atari else "unizero_cartpole")
    cfg = smoke_config(recipe) if args.atari and args.smoke else merge_config(recipe.CONFIG)
    cfg = merge_config(cfg, parse_set_overrides(args.set))
    if args.env_id:
        cfg.env.env_id = args.env_id
    p = cfg.policy
    # time fixed slices of collection: the per-step cost is what num_segments mode pays too
    p.num_segments, p.collect_env_steps = None, args.collect_env_steps
    run = Run(recipe="unizero_atari" if args.atari else "unizero_cartpole", cfg=cfg)
    if args.atari:  # the Atari recipes' environment options (frame skip, life loss, ...)
        from pipezero.recipes.rezero_atari import env_options

        envs, _ = run.envs(**env_options(cfg.env))
    else:
        envs, _ = run.envs()
    model = UniZeroModel(envs.observation_shape, envs.action_space_size, **p.model)
    policy = UniZeroPolicy(p, model, seed=cfg.seed, device=args.device)
    buffer = ReplayBuffer(p.replay_buffer_size, p.num_unroll_steps, p.td_steps, seed=0)
    collect = env_collect(p, policy, envs)
    ctx = TrainContext()
    while buffer.num_transitions < p.batch_size:  # warm-up: allocations, first segments
        collect(ctx)
        buffer.extend(ctx.new_segments)
    start_steps, start = ctx.env_step, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        collect(ctx)
        buffer.extend(ctx.new_segments)
    collect_s = time.perf_counter() - start
    env_steps = ctx.env_step - start_steps
    policy.learn(buffer.sample(p.batch_size, with_unroll_obs=True))  # warm-up
    updates, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        policy.learn(buffer.sample(p.batch_size, with_unroll_obs=True))
        updates += 1
    learn_s = time.perf_counter() - start
    return {
        "benchmark": "unizero_throughput",
        "env_id": cfg.env.env_id,
        "settings": "atari smoke"
        if args.atari and args.smoke
        else ("atari" if args.atari else "cartpole"),
        "overrides": args.set,
        "device": str(policy.device),
        "torch_threads": args.threads,
        "collector_env_num": cfg.env.collector_env_num,
        "num_simulations": p.num_simulations,
        "batch_size": p.batch_size,
        "num_unroll_steps": p.num_unroll_steps,
        "context_length": p.model.context_length,
        "model_parameters": sum(t.numel() for t in model.parameters()),
        "env_steps": env_steps,
        "env_steps_per_s": round(env_steps / collect_s, 1),
        "train_steps": updates,
        "train_steps_per_s": round(updates / learn_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    learn = sub.add_parser("learning", help="CartPole time to target over seeds")
    learn.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    learn.add_argument("--max-env-step", type=int, default=10_000)
    learn.add_argument("--target", type=float, default=195.0)
    learn.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    speed = sub.add_parser("throughput", help="env steps/s and train steps/s")
    speed.add_argument("--atari", action="store_true", help="the Atari recipe's settings")
    speed.add_argument("--smoke", action="store_true", help="with --atari: its --smoke sizes")
    speed.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    speed.add_argument("--collect-env-steps", type=int, default=8, help="batched steps/call")
    speed.add_argument("--env-id", default=None)
    speed.add_argument("--seconds", type=float, default=20.0, help="per measurement")
    speed.add_argument("--device", default="cpu")
    speed.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    out = learning(args) if args.mode == "learning" else throughput(args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
