"""Few-simulation benchmark: Gumbel MuZero with 8 simulations beside MuZero with 8 and 25.

    python benchmarks/gumbel.py --seeds 0 1 2 --max-env-step 10000
    python benchmarks/gumbel.py --variants gumbel_muzero:8 gumbel_muzero:4 --seeds 0

Each variant ``ALGO:SIMULATIONS`` trains ``recipes/<algo>_cartpole.py`` with
``policy.num_simulations=SIMULATIONS`` on CartPole-v0 for every seed, one process at a time
(through ``benchmarks/learning.py``'s runner, :func:`pipezero.recipe.benchmark_run`). A run
stops at the first evaluation (8 episodes) whose mean return reaches 195 or at
``--max-env-step``. The JSON printed on stdout holds, per run, the env steps / updates / wall
time at which the target was first reached (``null``: never) and that evaluation's return, the
learning curve, and ``reeval``: ``best.pt`` (the stopping evaluation's weights) and ``final.pt``
played on ``--reeval-episodes`` fresh episodes (default 32; 0 skips it) with ``holds_target``;
per variant the medians over seeds. ``reached_target`` says whether the median run reached the
target within the budget on its stopping evaluation (the issue's bar for Gumbel MuZero with 8
simulations: yes, within 10k env steps); ``holds_on_reeval`` counts the runs whose ``best.pt``
holds it on the re-evaluation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from learning import run_seed

from pipezero.recipe import REEVAL_EPISODES, median_or_none

DEFAULT_VARIANTS = ["gumbel_muzero:8", "muzero:8", "muzero:25"]


def parse_variant(text: str) -> tuple[str, int]:
    """``"muzero:25"`` -> ``("muzero", 25)``."""
    algo, sep, sims = text.partition(":")
    if not sep or not sims.isdigit() or int(sims) < 1:
        raise argparse.ArgumentTypeError(
            f"a variant is ALGO:SIMULATIONS such as gumbel_muzero:8, got {text!r}"
        )
    return algo, int(sims)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", type=parse_variant, default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-env-step", type=int, default=10_000)
    parser.add_argument("--target", type=float, default=195.0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--reeval-episodes",
        type=int,
        default=REEVAL_EPISODES,
        help="fresh episodes re-evaluating best.pt and final.pt of every run (0: none)",
    )
    args = parser.parse_args(argv)
    variants = args.variants or [parse_variant(v) for v in DEFAULT_VARIANTS]

    report: dict[str, Any] = {
        "target": args.target,
        "max_env_step": args.max_env_step,
        "overrides": args.set,
        "reeval_episodes": args.reeval_episodes,
        "cpu_count": os.cpu_count(),
        "runs": [],
        "median": {},
    }
    with tempfile.TemporaryDirectory(prefix="pipezero-gumbel-") as tmp:
        for algo, sims in variants:
            label = f"{algo}:{sims}"
            work_dir = Path(tmp) / f"{algo}_sim{sims}"
            overrides = [*args.set, f"policy.num_simulations={sims}"]
            mine = []
            for seed in args.seeds:
                run = run_seed(
                    *(algo, seed, args.max_env_step, overrides, work_dir),
                    target=args.target,
                    reeval_episodes=args.reeval_episodes,
                )
                entry = {"variant": label, **{k: v for k, v in run.items() if k != "history"}}
                print(json.dumps({k: v for k, v in entry.items() if k != "curve"}), file=sys.stderr)
                mine.append(entry)
            report["runs"] += mine
            medians = {
                key: median_or_none([r[key] for r in mine])
                for key in ("env_steps_to_target", "wall_s_to_target", "train_iter_to_target")
            }
            medians["reached_target"] = medians["env_steps_to_target"] is not None
            if args.reeval_episodes > 0:
                medians["holds_on_reeval"] = sum(r["reeval"]["best"]["holds_target"] for r in mine)
            report["median"][label] = medians
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
