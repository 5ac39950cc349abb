"""Scale-out benchmark: Ray self-play collection and DDP update throughput, as JSON.

    python benchmarks/scale_out.py ray --actors 0 1 2 --steps 6
    python benchmarks/scale_out.py ddp --world 1 2 --updates 40
    python benchmarks/scale_out.py recipe --runs sync ray2 ddp2 --seeds 0 1 2

``ray``: environment steps per second of collection alone (no learning) with the MuZero
CartPole recipe's settings (8 CartPole-v0 environments per collector, 25 simulations,
16 batched steps per call, an untrained MuZeroMLP): ``0`` actors is ``env_collect`` in this
process; ``N`` actors is ``ray_collect`` on a local Ray with ``num_cpus`` = the machine's
cores, each request waited for (``prefetch=False``). The first call (actor start-up) is not
timed.

``ddp``: gradient updates per second of ``MuZeroPolicy.learn`` (batch 256 per rank, the
recipe's model) in 1 process and in ``W`` gloo ranks with ``ddp_sync``'s gradient averaging;
``samples_per_s`` counts every rank's batch. Each rank has one torch thread.

``recipe``: full training runs of ``recipes/muzero_cartpole.py`` (``sync``: one process,
``rayN``: ``--ray-actors N``, ``ddpN``: ``torchrun --nproc_per_node=N --ddp``), each seed in
its own process(es) one after the other; reports wall time, env steps per second, env steps
and wall time to the first evaluation at ``stop_value`` and the best return.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "muzero_cartpole.py"


def _recipe_policy(seed: int) -> Any:
    """The MuZero CartPole recipe's policy (its config, an untrained model)."""
    from pipezero.recipes.muzero_cartpole import CONFIG

    from pipezero.model import MuZeroMLP
    from pipezero.policy import MuZeroPolicy

    cfg = copy.deepcopy(CONFIG)
    p = cfg.policy
    torch.manual_seed(seed)
    return cfg, MuZeroPolicy(p, MuZeroMLP(4, 2, **p.model), seed=seed)


# ---------------------------------------------------------------------------------- ray
def bench_ray(actors: list[int], steps: int) -> list[dict[str, Any]]:
    import ray
    from pipezero.middleware import env_collect, ray_collect

    from pipezero.distributed import init_local_ray
    from pipezero.envs import BatchEnv
    from pipezero.framework import Task, TrainContext

    torch.set_num_threads(1)
    cores = os.cpu_count() or 1
    init_local_ray(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    out = []
    try:
        for n in actors:
            cfg, policy = _recipe_policy(seed=0)
            p, env_id, num_envs = cfg.policy, cfg.env.env_id, cfg.env.collector_env_num
            if n == 0:
                step = env_collect(p, policy, BatchEnv.make(env_id, num_envs, seed=0))
            else:
                make_envs = functools.partial(BatchEnv.make, env_id, num_envs)
                step = ray_collect(
                    p, policy, make_envs, collector=env_collect, num_actors=n, prefetch=False
                )
            task = Task(TrainContext()).use(step)  # setup hooks (events, pool shutdown)
            ctx = task.ctx
            step(ctx)  # start-up, not timed
            ctx.renew()
            first, start = ctx.env_step, time.perf_counter()
            for _ in range(steps):
                step(ctx)
                ctx.renew()
            seconds = time.perf_counter() - start
            if n:
                step.fn.__self__.pool.shutdown()
            out.append(
                {
                    "bench": "ray_collect",
                    "actors": n,
                    "env_steps": ctx.env_step - first,
                    "seconds": round(seconds, 3),
                    "env_steps_per_s": round((ctx.env_step - first) / seconds, 1),
                    "cpu_cores": cores,
                }
            )
            print(json.dumps(out[-1]), flush=True)
    finally:
        ray.shutdown()
    return out


# ---------------------------------------------------------------------------------- ddp
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _random_buffer(policy: Any, seed: int) -> Any:
    """A replay buffer of 4000 random CartPole-shaped transitions."""
    from pipezero.data import GameSegmentWriter, ReplayBuffer

    c = policy.cfg
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(10_000, c.num_unroll_steps, c.td_steps, c.discount_factor, seed=seed)
    writer = GameSegmentWriter((4,), 2, c.game_segment_length, c.num_unroll_steps, c.td_steps)
    for _ in range(20):
        for _ in range(200):
            obs = rng.normal(size=4).astype(np.float32)
            visits = rng.dirichlet([1.0, 1.0]).astype(np.float32)
            action, value = int(rng.integers(2)), float(rng.normal())
            writer.append(obs, np.array([True, True]), -1, action, 1.0, visits, value)
        writer.end_episode(rng.normal(size=4).astype(np.float32), terminated=False)
    for segment in writer.pop_finished():
        buffer.push(segment)
    return buffer


def _ddp_rank(rank: int, world: int, port: int, updates: int, out: str) -> None:
    from pipezero.middleware import ddp_sync

    from pipezero.distributed import barrier, init_distributed, shutdown_distributed
    from pipezero.framework import Task, TrainContext

    torch.set_num_threads(1)
    if world > 1:
        env = dict(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
        init_distributed("gloo", env=env | dict(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)))
    _, policy = _recipe_policy(seed=rank)
    buffer = _random_buffer(policy, seed=rank)
    if world > 1:
        Task(TrainContext()).use(ddp_sync(policy.cfg, policy, buffer))
    batch_size = int(policy.cfg.batch_size)
    batches = [buffer.sample(batch_size) for _ in range(updates + 3)]
    for batch in batches[:3]:  # warm-up
        policy.learn(batch)
    barrier()
    start = time.perf_counter()
    for batch in batches[3:]:
        policy.learn(batch)
    barrier()
    seconds = time.perf_counter() - start
    if rank == 0:
        Path(out).write_text(json.dumps({"seconds": seconds, "batch_size": batch_size}))
    shutdown_distributed()


def bench_ddp(worlds: list[int], updates: int) -> list[dict[str, Any]]:
    import torch.multiprocessing as mp

    out = []
    for world in worlds:
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "rank0.json")
            mp.spawn(_ddp_rank, args=(world, _free_port(), updates, path), nprocs=world)
            got = json.loads(Path(path).read_text())
        seconds = got["seconds"]
        out.append(
            {
                "bench": "ddp_learn",
                "world_size": world,
                "updates": updates,
                "batch_per_rank": got["batch_size"],
                "seconds": round(seconds, 3),
                "updates_per_s": round(updates / seconds, 2),
                "samples_per_s": round(updates * got["batch_size"] * world / seconds, 1),
            }
        )
        print(json.dumps(out[-1]), flush=True)
    return out


# ------------------------------------------------------------------------------- recipe
def _recipe_command(run: str, seed: int, exp_dir: Path, max_env_step: int) -> list[str]:
    args = [str(RECIPE), "--seed", str(seed), "--exp-dir", str(exp_dir)]
    args += ["--max-env-step", str(max_env_step)]
    if run == "sync":
        return [sys.executable, *args]
    if run.startswith("ray"):
        return [sys.executable, *args, "--ray-actors", run[3:]]
    if run.startswith("ddp"):
        torchrun = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={run[3:]}"]
        return [*torchrun, "--master_port", str(_free_port()), *args, "--ddp"]
    raise ValueError(f"unknown run {run!r}: use sync, rayN or ddpN")


def bench_recipe(runs: list[str], seeds: list[int], max_env_step: int) -> list[dict[str, Any]]:
    out = []
    for run in runs:
        per_seed = []
        for seed in seeds:
            with tempfile.TemporaryDirectory() as tmp:
                cmd = _recipe_command(run, seed, Path(tmp), max_env_step)
                launch = time.time()
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            results = [json.loads(ln[len("RESULT ") :]) for ln in lines]
            if proc.returncode != 0 or not results:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
            result = min(results, key=lambda r: r["seed"])  # rank 0 under torchrun
            solved = [e for e in result["eval_history"] if e["return_mean"] >= 195.0]
            per_seed.append(
                {
                    "seed": seed,
                    "wall_s": round(result["wall_s"], 1),
                    "env_step": result["env_step"],
                    "env_steps_per_s": round(result["env_step"] / result["wall_s"], 1),
                    "train_iter": result["train_iter"],
                    "best_eval_return": result["best_eval_return"],
                    "solved_env_step": solved[0]["env_step"] if solved else None,
                    "solved_wall_s": round(solved[0]["unix_time"] - launch, 1) if solved else None,
                }
            )
            print(json.dumps({"bench": "recipe", "run": run, **per_seed[-1]}), flush=True)
        solved_walls = [s["solved_wall_s"] for s in per_seed if s["solved_wall_s"] is not None]
        out.append(
            {
                "bench": "recipe",
                "run": run,
                "seeds": per_seed,
                "median_env_steps_per_s": statistics.median(s["env_steps_per_s"] for s in per_seed),
                "solved": f"{len(solved_walls)}/{len(per_seed)}",
                "median_solved_wall_s": statistics.median(solved_walls) if solved_walls else None,
            }
        )
        print(json.dumps(out[-1]), flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    ray_p = sub.add_parser("ray", help="collection env steps/s with 0..N Ray actors")
    ray_p.add_argument("--actors", type=int, nargs="+", default=[0, 1, 2])
    ray_p.add_argument("--steps", type=int, default=6, help="timed collector calls")
    ddp_p = sub.add_parser("ddp", help="updates/s in 1..W gloo ranks")
    ddp_p.add_argument("--world", type=int, nargs="+", default=[1, 2])
    ddp_p.add_argument("--updates", type=int, default=40)
    rec_p = sub.add_parser("recipe", help="full muzero_cartpole runs")
    rec_p.add_argument("--runs", nargs="+", default=["sync", "ray2", "ddp2"])
    rec_p.add_argument("--seeds", type=int, nargs="+", default=[0])
    rec_p.add_argument("--max-env-step", type=int, default=6000)
    args = parser.parse_args(argv)
    if args.bench == "ray":
        results = bench_ray(args.actors, args.steps)
    elif args.bench == "ddp":
        results = bench_ddp(args.world, args.updates)
    else:
        results = bench_recipe(args.runs, args.seeds, args.max_env_step)
    print(json.dumps({"bench": args.bench, "results": results}))


if __name__ == "__main__":
    main()
