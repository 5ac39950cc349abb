"""ReZero benchmark: learning speed on CartPole-v0 and the cost of backward-view reanalysis.

    python benchmarks/rezero.py --seeds 0 1 2                  # learning + reanalysis cost
    python benchmarks/rezero.py --seeds 0 --skip-learning      # cost only (untrained model)
    python benchmarks/rezero.py --atari-steps 2000             # also Atari speeds (ale-py)

Prints one JSON object:

- ``learning``: for each variant and seed, ``recipes/rezero_cartpole.py`` runs in its own
  process (one after the other, :func:`pipezero.recipe.benchmark_run`) until the mean return
  of an evaluation (8 episodes) reaches 195 or 10k env steps; then ``best.pt`` (the stopping
  evaluation's weights) and ``final.pt`` play ``--reeval-episodes`` fresh episodes (default
  32; 0 skips it), each with ``holds_target``.
  Variants: ``rezero`` (buffer reanalysis with backward-view reuse) and
  ``muzero_full_reanalysis`` (the same chain and reanalysis schedule, every position searched
  in full: MuZero with the same reanalysis budget). Per variant the medians over seeds of the
  env steps and wall seconds (from process launch) to 195, the network evaluations per
  reanalysed state, and how many runs' ``best.pt`` hold 195 on the re-evaluation.
- ``reanalysis_cost``: the windows of one saved buffer (the ``rezero`` seed's final buffer and
  model when the learning runs were made, else freshly collected data and an untrained model)
  reanalysed both ways: states, batched network calls and evaluated states per reanalysed
  state, seconds per state, and the full / reuse ratios.
- ``atari`` (with ``--atari-steps``): ``recipes/rezero_atari.py`` with the default network on
  Pong for that many env steps (see :func:`atari`): env steps/s (collection with search),
  train steps/s (updates of batch 256) and buffer bytes per transition.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipezero.recipe import REEVAL_EPISODES, benchmark_run, run_recipe

ROOT = Path(__file__).resolve().parents[1]
TARGET = 195.0
VARIANTS = {
    "rezero": "policy.reuse_search=True",
    "muzero_full_reanalysis": "policy.reuse_search=False",
}


def learning(
    seeds: list[int], max_env_step: int, work: Path, reeval_episodes: int = REEVAL_EPISODES
) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    for seed in seeds:
        for name, setting in VARIANTS.items():
            run = benchmark_run(
                ROOT / "recipes" / "rezero_cartpole.py",
                seed=seed,
                exp_dir=work / f"{name}_seed{seed}",
                target=TARGET,
                max_env_step=max_env_step,
                overrides=[setting],
                reeval_episodes=reeval_episodes,
            )
            result = run.pop("result")
            states = max(result["reanalyzed_states"], 1)
            reached = run["env_steps_to_target"] is not None
            entry = {
                "seed": seed,
                "exp_dir": run["exp_dir"],
                "reached_195": reached,
                "env_steps_to_195": run["env_steps_to_target"],
                "train_iter_to_195": run["train_iter_to_target"],
                "wall_s_to_195": run["wall_s_to_target"],
                "stopping_eval_return": run["stopping_eval_return"],
                "stopping_eval_episodes": run["stopping_eval_episodes"],
                "best_eval_return": run["best_eval_return"],
                "env_step": run["env_step"],
                "train_iter": result["train_iter"],
                "run_wall_s": run["run_wall_s"],
                "reanalyzed_states": result["reanalyzed_states"],
                "reanalyze_s": round(result["reanalyze_seconds"], 2),
                "evaluations_per_state": result["reanalyze_state_evaluations"] / states,
                "network_calls_per_state": result["reanalyze_network_calls"] / states,
                "curve": run["curve"],
            }
            if "reeval" in run:
                entry["reeval"] = run["reeval"]
            print(json.dumps({k: v for k, v in entry.items() if k != "curve"}), file=sys.stderr)
            runs[name].append(entry)
    summary = {}
    for name, items in runs.items():
        steps = [r["env_steps_to_195"] if r["reached_195"] else float("inf") for r in items]
        walls = [r["wall_s_to_195"] if r["reached_195"] else float("inf") for r in items]
        summary[name] = {
            "runs": items,
            "reached": sum(r["reached_195"] for r in items),
            "median_env_steps_to_195": statistics.median(steps),
            "median_wall_s_to_195": statistics.median(walls),
            "median_evaluations_per_state": statistics.median(
                r["evaluations_per_state"] for r in items
            ),
            "median_reanalyze_s": statistics.median(r["reanalyze_s"] for r in items),
        }
        if reeval_episodes > 0:
            summary[name]["holds_on_reeval"] = sum(
                r["reeval"]["best"]["holds_target"] for r in items
            )
    return summary


def reanalysis_cost(run_dir: Path | None, windows: int) -> dict[str, Any]:
    """Reanalyse the same windows with and without reuse (single thread)."""
    from pipezero.middleware import env_collect
    from pipezero.recipes.rezero_cartpole import CONFIG

    from pipezero.checkpoint import load_checkpoint
    from pipezero.checkpoint.files import buffer_files
    from pipezero.data import ReplayBuffer
    from pipezero.envs import BatchEnv
    from pipezero.framework import TrainContext
    from pipezero.model import MuZeroMLP
    from pipezero.policy import ReZeroPolicy

    torch.set_num_threads(1)
    cfg = copy.deepcopy(CONFIG)
    p = cfg.policy
    policy = ReZeroPolicy(p, MuZeroMLP((4,), 2, **p.model), seed=0)
    source = "untrained model, freshly collected data"
    if run_dir is not None:
        ckpt = run_dir / "ckpt" / "final.pt"
        policy.load_state_dict(load_checkpoint(ckpt)["policy"])
        segments = ReplayBuffer.load(buffer_files(ckpt)[0]).segments()
        source = f"trained model and buffer of {run_dir}"
    else:
        envs = BatchEnv.make("CartPole-v0", 8, seed=0)
        ctx = TrainContext()
        collect = env_collect(p | {"collect_env_steps": 200}, policy, envs)
        collect(ctx)
        segments = ctx.new_segments
    segments = segments[-windows:]
    out: dict[str, Any] = {
        "source": source,
        "windows": len(segments),
        "num_simulations": int(p.num_simulations),
    }
    for reuse in (True, False):
        policy.cfg.reuse_search = reuse
        policy.reanalyze_segments(segments[:2])  # warm-up
        start = time.perf_counter()
        result = policy.reanalyze_segments(segments)
        seconds = time.perf_counter() - start
        out["reuse" if reuse else "full"] = {
            "states": result.num_states,
            "evaluations_per_state": result.evaluations_per_state,
            "network_calls_per_state": result.num_network_calls / result.num_states,
            "ms_per_state": 1000 * seconds / result.num_states,
        }
    full, reuse = out["full"], out["reuse"]
    out["ratio_evaluations_full_over_reuse"] = (
        full["evaluations_per_state"] / reuse["evaluations_per_state"]
    )
    out["ratio_time_full_over_reuse"] = full["ms_per_state"] / reuse["ms_per_state"]
    return out


def atari(steps: int, work: Path) -> dict[str, Any]:
    """The full-size Pong network for ``steps`` env steps: 8 collector envs, 50 simulations,
    64 channels; 4 updates (batch 256) per collect of 400 env steps, one pass of reanalysis
    every 4 collects, 50-step segments so training starts after the first collects, short
    evaluation games."""
    result = run_recipe(
        ROOT / "recipes" / "rezero_atari.py",
        seed=0,
        exp_dir=work / "atari",
        max_env_step=steps,
        overrides=[
            "policy.game_segment_length=50",
            "policy.update_per_collect=4",
            "policy.min_buffer_transitions=400",
            "env.evaluator_env_num=1",
            "env.max_episode_frames=400",
        ],
    )
    keys = (
        "env_step",
        "train_iter",
        "device",
        "env_steps_per_s",
        "train_steps_per_s",
        "middleware_seconds",
        "buffer_memory",
        "wall_s",
    )
    return {k: result[k] for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-env-step", type=int, default=10_000)
    parser.add_argument("--skip-learning", action="store_true")
    parser.add_argument("--windows", type=int, default=64, help="segments for the cost")
    parser.add_argument("--atari-steps", type=int, default=0)
    parser.add_argument(
        "--reeval-episodes",
        type=int,
        default=REEVAL_EPISODES,
        help="fresh episodes re-evaluating best.pt and final.pt of every learning run (0: none)",
    )
    args = parser.parse_args()
    np.random.seed(0)
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pipezero-rezero-") as tmp:
        work = Path(tmp)
        run_dir = None
        if not args.skip_learning:
            report["learning"] = learning(args.seeds, args.max_env_step, work, args.reeval_episodes)
            run_dir = Path(report["learning"]["rezero"]["runs"][0]["exp_dir"])
        report["reanalysis_cost"] = reanalysis_cost(run_dir, args.windows)
        if args.atari_steps:
            report["atari"] = atari(args.atari_steps, work)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
