"""2048 learning benchmark: Stochastic MuZero after a wall-clock budget vs the random policy.

    python benchmarks/game2048.py --minutes 30 --seed 0
    python benchmarks/game2048.py --minutes 2 --eval-episodes 8 --set policy.num_simulations=8

1. The random policy (uniform over the legal moves) plays ``--random-episodes`` games.
2. ``recipes/stochastic_muzero_2048.py`` trains for ``--minutes`` of wall time (a subprocess,
   optionally under ``nice -n NICE``; ``--mode async`` by default, so the learner and the
   collector each have a core), writing its final checkpoint.
3. The final checkpoint plays ``--eval-episodes`` games with ``policy.evaluate`` (search
   without noise, most visited move), with ``--eval-sims`` simulations if given (only this
   final evaluation; training and its evaluations keep the recipe's settings).

``--oracle-sims S [S ...]`` instead plays ``--eval-episodes`` games with the search over the
*true* 2048 model and zero values (``tests/stochastic/oracle2048.py``) for each number of
simulations: how far pure lookahead gets without any learned value.

Prints one JSON object: both mean scores with their standard errors, the ratio (the target
is >= 3), the run's counters and evaluation history, the exact command, and two timings of
fixed work that index the machine's speed (``random_us_per_move``: the random games;
``final_eval_ms_per_move``: the final evaluation's search): this shared machine's speed has
varied 2x between sessions, and a wall-clock budget then buys half the updates.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pipezero.middleware.interval_eval import evaluate_episodes

from pipezero.checkpoint import load_checkpoint
from pipezero.config import merge_config
from pipezero.envs import BatchEnv
from pipezero.envs.game2048 import ENV_ID, Game2048
from pipezero.model.stochastic import StochasticMuZeroMLP
from pipezero.recipe import load_recipe, read_result, read_run_config

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "stochastic_muzero_2048.py"


def random_scores(episodes: int, seed: int) -> tuple[np.ndarray, int]:
    """Scores of the uniform-random legal policy over ``episodes`` games, and their moves."""
    game = Game2048(seed)
    rng = np.random.default_rng(seed + 1)
    scores = np.empty(episodes)
    moves = 0
    for i in range(episodes):
        game.reset()
        over = False
        while not over:
            _, over = game.step(int(rng.choice(np.flatnonzero(game.legal_actions()))))
            moves += 1
        scores[i] = game.score
    return scores, moves


def oracle_scores(sims: int, episodes: int, seed: int) -> np.ndarray:
    """Scores of the Stochastic MuZero search over the true model (value 0 everywhere)."""
    from pipezero.envs.game2048 import encode_board
    from pipezero.mcts import MCTSConfig, StochasticMuZeroSearch

    spec = importlib.util.spec_from_file_location(
        "oracle2048", ROOT / "tests" / "stochastic" / "oracle2048.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    oracle = module.Oracle2048()
    search = StochasticMuZeroSearch(
        oracle, MCTSConfig(num_simulations=sims, discount_factor=0.99, seed=seed)
    )
    game = Game2048(seed)
    scores = np.empty(episodes)
    for i in range(episodes):
        game.reset()
        over = False
        while not over:
            legal = game.legal_actions()
            root = oracle.initial_inference(torch.from_numpy(encode_board(game.board)[None]))
            result = search.search(root, legal[None], add_exploration_noise=False)
            visits = np.where(legal, result.visit_counts[0].numpy(), -1)
            _, over = game.step(int(visits.argmax()))
        scores[i] = game.score
    return scores


def summary(x: np.ndarray) -> dict[str, float]:
    return {
        "mean": float(x.mean()),
        "sem": float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0,
        "min": float(x.min()),
        "max": float(x.max()),
        "episodes": len(x),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="training wall time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=128,
        help="games of the final evaluation (a 2048 score varies a lot: 32 games left a "
        "standard error of ~300 points, 128 about half that)",
    )
    parser.add_argument("--random-episodes", type=int, default=500)
    parser.add_argument("--nice", type=int, default=0, help="run training under nice -n NICE")
    parser.add_argument("--exp-dir", default=None, help="run directory (default: a temp dir)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--mode",
        choices=("sync", "async"),
        default="async",
        help="the recipe's --mode (default async: the collector and the evaluator in their own "
        "processes beside the learner, so training uses both cores of this machine)",
    )
    parser.add_argument("--oracle-sims", type=int, nargs="+", default=None, metavar="S")
    parser.add_argument(
        "--eval-sims",
        type=int,
        default=None,
        metavar="S",
        help="simulations of the final evaluation (default: the recipe's eval settings)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.oracle_sims:
        rand, _ = random_scores(args.random_episodes, args.seed + 123)
        out = {"benchmark": "game2048_oracle_search", "random_score": summary(rand)}
        for sims in args.oracle_sims:
            t0 = time.perf_counter()
            scores = oracle_scores(sims, args.eval_episodes, args.seed)
            out[f"oracle_{sims}_sims"] = summary(scores) | {
                "ratio": float(scores.mean() / rand.mean()),
                "wall_s": time.perf_counter() - t0,
            }
        print(json.dumps(out))
        return

    t0 = time.perf_counter()
    rand, random_moves = random_scores(args.random_episodes, args.seed + 123)
    random_s = time.perf_counter() - t0

    exp_dir = args.exp_dir or tempfile.mkdtemp(prefix="pipezero-2048-")
    cmd = [sys.executable, str(RECIPE), "--seed", str(args.seed), "--exp-dir", exp_dir]
    cmd += ["--max-minutes", str(args.minutes), "--mode", args.mode]
    for item in args.set:
        cmd += ["--set", item]
    if args.nice:
        cmd = ["nice", "-n", str(args.nice), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    parsed = read_result(proc.stdout)
    if proc.returncode != 0 or parsed is None:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"training failed (exit code {proc.returncode}): {' '.join(cmd)}")
    run = parsed

    overrides: dict[str, Any] = {}
    if args.eval_sims is not None:
        if args.eval_sims < 1:
            raise SystemExit(f"--eval-sims must be >= 1, got {args.eval_sims}")
        overrides["policy"] = {"eval_num_simulations": args.eval_sims}
    cfg = merge_config(read_run_config(exp_dir)["config"], overrides)  # the run's, --set too
    model = StochasticMuZeroMLP((16, 4, 4), 4, **cfg.policy.model)
    policy = load_recipe("stochastic_muzero_2048").POLICY(cfg.policy, model, seed=args.seed)
    policy.load_state_dict(load_checkpoint(Path(exp_dir) / "ckpt" / "final.pt")["policy"])
    t0 = time.perf_counter()
    envs = BatchEnv.make(ENV_ID, min(8, args.eval_episodes), seed=args.seed + 50_000)
    trained, lengths = evaluate_episodes(policy, envs, args.eval_episodes)
    eval_s = time.perf_counter() - t0

    ratio = float(trained.mean() / rand.mean())
    print(
        json.dumps(
            {
                "benchmark": "game2048",
                "random_score": summary(rand),
                "trained_score": summary(np.asarray(trained)),
                "trained_episode_length_mean": float(np.mean(lengths)),
                "ratio": ratio,
                "target_ratio": 3.0,
                "passed": ratio >= 3.0,
                "train_minutes": args.minutes,
                "mode": args.mode,
                "env_step": run["env_step"],
                "train_iter": run["train_iter"],
                "train_wall_s": run["wall_s"],
                "eval_history": [
                    {k: e[k] for k in ("train_iter", "env_step", "return_mean")}
                    for e in run["eval_history"]
                ],
                "random_wall_s": random_s,
                "final_eval_wall_s": eval_s,
                # the machine-speed index: fixed work, timed (compare runs of different hours)
                "random_us_per_move": random_s / random_moves * 1e6,
                "final_eval_ms_per_move": eval_s / float(np.sum(lengths)) * 1e3,
                "final_eval_num_simulations": int(
                    cfg.policy.eval_num_simulations or cfg.policy.num_simulations
                ),
                "overrides": args.set,
                "command": " ".join(sys.argv),
                "train_command": " ".join(cmd),
            }
        )
    )


if __name__ == "__main__":
    main()
