"""Update time of the MinAtar networks: what sizes and weight layouts fit a CPU.

For each MinAtar recipe, each ``CHANNELSxBLOCKS`` size and each weight layout (``--layouts``:
``policy.channels_last`` false / true), the recipe's own policy and buffer (its ``CONFIG``
with ``policy.model.num_channels`` / ``num_res_blocks`` set) collect ``--steps`` environment
steps of ``--env-id`` with the untrained network (``env_collect`` and ``data_push``, 8
environments), then ``--repeats`` updates at ``--batch-size`` (5 unroll steps, ``--threads``
torch threads, default one) are timed after one warm-up update, and one search network call
(``recurrent_inference``) at ``B`` = 8, 64 and 256 leaves. ``--rounds`` repeats the whole
set, so the layouts alternate under the same load. Prints JSON (seconds per update, ms per
call, the median over rounds and every round).

    python benchmarks/minatar_update.py --sizes 16x1 16x2 32x1 32x2 --recipes muzero_minatar
    python benchmarks/minatar_update.py --sizes 16x1 --recipes muzero_minatar --rounds 3
    python benchmarks/minatar_update.py --sizes 16x1 --recipes muzero_minatar --threads 2

Needs ``pip install "pipezero[minatar]"``.
"""

from __future__ import annotations

import argparse
import json
import statistics
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


#: Leaves per search network call timed for each layout.
SEARCH_BATCHES = (8, 64, 256)


def time_updates(
    recipe: str, channels: int, blocks: int, channels_last: bool, args: argparse.Namespace
) -> dict[str, float]:
    """Seconds per update and ms per search network call (``recurrent_B<M>_ms``)."""
    module = load_recipe(recipe)
    cfg = merge_config(
        module.CONFIG,
        {
            "env.env_id": args.env_id,
            "policy.model.num_channels": channels,
            "policy.model.num_res_blocks": blocks,
            "policy.batch_size": args.batch_size,
            "policy.num_simulations": 4,  # collection only fills the buffer
            "policy.channels_last": channels_last,
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
    out = {"update_s": (time.perf_counter() - start) / args.repeats}
    obs = torch.as_tensor(buffer.sample(max(SEARCH_BATCHES)).obs).float()
    model = policy.acting_model
    with torch.inference_mode():
        for m in SEARCH_BATCHES:
            latent = model.initial_inference(obs[:m]).latent
            action = torch.zeros(m, dtype=torch.long)
            calls = max(5, 2000 // m)
            model.recurrent_inference(latent, action)  # warm-up
            start = time.perf_counter()
            for _ in range(calls):
                model.recurrent_inference(latent, action)
            out[f"recurrent_B{m}_ms"] = 1000 * (time.perf_counter() - start) / calls
    return out


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
    parser.add_argument(
        "--layouts",
        nargs="+",
        choices=["contiguous", "channels_last"],
        default=["contiguous", "channels_last"],
        help="weight layouts to time (policy.channels_last false / true)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="alternations of the whole set")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (intra-op)")
    args = parser.parse_args()
    if args.threads < 1:
        parser.error(f"--threads expects an int >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    runs: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        for recipe in args.recipes:
            for size in args.sizes:
                channels, blocks = (int(x) for x in size.split("x"))
                for layout in args.layouts:
                    timed = time_updates(recipe, channels, blocks, layout == "channels_last", args)
                    runs.setdefault((recipe, size, layout), []).append(timed)
    rows = []
    for (recipe, size, layout), timed in runs.items():
        channels, blocks = (int(x) for x in size.split("x"))
        row = {"recipe": recipe, "channels": channels, "blocks": blocks, "layout": layout}
        for key in timed[0]:
            values = [t[key] for t in timed]
            row[key] = round(statistics.median(values), 4)
            row[f"{key}_rounds"] = [round(v, 4) for v in values]
        rows.append(row)
    print(json.dumps({"env_id": args.env_id, "batch_size": args.batch_size,
                      "threads": args.threads, "rounds": args.rounds, "rows": rows}))  # fmt: skip


if __name__ == "__main__":
    main()
