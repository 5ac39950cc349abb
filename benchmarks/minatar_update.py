"""Update time of the MinAtar networks: what sizes fit a CPU.

For each MinAtar recipe and each ``CHANNELSxBLOCKS`` size, the recipe's own policy and buffer
(its ``CONFIG`` with ``policy.model.num_channels`` / ``num_res_blocks`` set) collect
``--steps`` environment steps of ``--env-id`` with the untrained network (``env_collect`` and
``data_push``, 8 environments), then ``--repeats`` updates at ``--batch-size`` (5 unroll
steps, one torch thread) are timed after one warm-up update. Prints JSON (seconds per update).

    python benchmarks/minatar_update.py --sizes 16x1 16x2 32x1 32x2 --recipes muzero_minatar

Needs ``pip install "pipezero[minatar]"``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from pipezero.middleware.data_push import data_push
from pipezero.middleware.env_collect import env_collect
from pipezero.middleware.termination import termination

from pipezero.config import merge_config
from pipezero.framework import Task, TrainContext
from pipezero.model import EfficientZeroConv, MuZeroConv
from pipezero.model.unizero import UniZeroModel
from pipezero.policy import EfficientZeroPolicy, MuZeroPolicy
from pipezero.policy.muzero_build import build_muzero
from pipezero.policy.rezero import ReZeroPolicy
from pipezero.policy.unizero import UniZeroPolicy
from pipezero.recipe import Run, load_recipe, seed_everything

#: The policy and network class of each recipe (those its ``build`` passes on).
NETWORKS = {
    "muzero_minatar": (MuZeroPolicy, MuZeroConv),
    "efficientzero_minatar": (EfficientZeroPolicy, EfficientZeroConv),
    "rezero_minatar": (ReZeroPolicy, MuZeroConv),  # the update is MuZero's; reanalysis aside
    "unizero_minatar": (UniZeroPolicy, UniZeroModel),
}


def time_updates(recipe: str, channels: int, blocks: int, args: argparse.Namespace) -> float:
    module = load_recipe(recipe)
    cfg = merge_config(
        module.CONFIG,
        {
            "env.env_id": args.env_id,
            "policy.model.num_channels": channels,
            "policy.model.num_res_blocks": blocks,
            "policy.batch_size": args.batch_size,
            "policy.num_simulations": 4,  # collection only fills the buffer
        },
    )
    seed_everything(0)
    run = Run(recipe=recipe, cfg=cfg)
    options = {k: v for k, v in cfg.env.items() if k != "env_id" and "_env_num" not in k}
    collect_envs, _ = run.envs(**options)
    policy_class, model_class = NETWORKS[recipe]
    policy, buffer = build_muzero(cfg, collect_envs, policy_class, model_class)
    task = Task(TrainContext())
    task.use(env_collect(cfg.policy, policy, collect_envs))
    task.use(data_push(buffer))
    task.use(termination(max_env_step=args.steps))
    task.run()
    unroll_obs = bool(getattr(policy, "needs_unroll_obs", False))
    policy.learn(buffer.sample(args.batch_size, with_unroll_obs=unroll_obs))  # warm-up
    start = time.perf_counter()
    for _ in range(args.repeats):
        policy.learn(buffer.sample(args.batch_size, with_unroll_obs=unroll_obs))
    return (time.perf_counter() - start) / args.repeats


def main() -> None:
    # Run as a script, this file's folder comes first on sys.path and benchmarks/minatar.py
    # would shadow the `minatar` package the environments import: take the folder off.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", choices=sorted(NETWORKS), default=sorted(NETWORKS))
    parser.add_argument("--sizes", nargs="+", default=["16x1", "16x2", "32x1", "32x2"])
    parser.add_argument("--env-id", default="MinAtar/Breakout-v1")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for recipe in args.recipes:
        for size in args.sizes:
            channels, blocks = (int(x) for x in size.split("x"))
            seconds = time_updates(recipe, channels, blocks, args)
            rows.append({"recipe": recipe, "channels": channels, "blocks": blocks,
                         "update_s": round(seconds, 3)})  # fmt: skip
    print(json.dumps({"env_id": args.env_id, "batch_size": args.batch_size, "rows": rows}))


if __name__ == "__main__":
    main()
