"""UniZero benchmark: CartPole learning over seeds, and collect / train throughput.

    python benchmarks/unizero.py learning --seeds 0 1 2
    python benchmarks/unizero.py throughput --env-id CartPole-v0
    python benchmarks/unizero.py throughput --atari --smoke
    python benchmarks/unizero.py throughput --atari --env-id ALE/Breakout-v5 --device cuda

``learning`` runs ``recipes/unizero_cartpole.py`` once per seed, one process after the other,
and reports per seed the env steps, updates and wall time (from process start) at the first
evaluation whose mean return reached the target (195) and that evaluation's return (8
episodes), plus the medians over seeds; then ``best.pt`` (the stopping evaluation's weights)
and ``final.pt`` play ``--reeval-episodes`` fresh episodes (default 32; 0 skips it), each with
``holds_target`` (:func:`pipezero.recipe.benchmark_run`).

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
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from pipezero.recipe import REEVAL_EPISODES, benchmark_run, median_or_none

ROOT = Path(__file__).resolve().parents[1]


def learning(args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    with tempfile.TemporaryDirectory(prefix="pipezero-unizero-") as tmp:
        for seed in args.seeds:
            run = benchmark_run(
                ROOT / "recipes" / "unizero_cartpole.py",
                seed=seed,
                exp_dir=Path(tmp) / f"seed{seed}",
                target=args.target,
                max_env_step=args.max_env_step,
                overrides=args.set,
                reeval_episodes=args.reeval_episodes,
            )
            run.pop("result")
            print(json.dumps({k: v for k, v in run.items() if k != "curve"}), file=sys.stderr)
            runs.append(run)
    reached = [r for r in runs if r["env_steps_to_target"] is not None]
    out = {
        "benchmark": "unizero_learning",
        "env_id": "CartPole-v0",
        "target": args.target,
        "max_env_step": args.max_env_step,
        "overrides": args.set,
        "reeval_episodes": args.reeval_episodes,
        "seeds_reaching_target": len(reached),
        **{
            f"median_{key}": median_or_none([r[key] for r in runs])
            for key in ("env_steps_to_target", "train_iter_to_target", "wall_s_to_target")
        },
        "median_best_eval_return": statistics.median(r["best_eval_return"] for r in runs),
        "runs": runs,
    }
    if args.reeval_episodes > 0:
        out["seeds_holding_target_on_reeval"] = sum(
            r["reeval"]["best"]["holds_target"] for r in runs
        )
    return out


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
    learn.add_argument(
        "--reeval-episodes",
        type=int,
        default=REEVAL_EPISODES,
        help="fresh episodes re-evaluating best.pt and final.pt of every run (0: none)",
    )
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
