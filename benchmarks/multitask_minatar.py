"""Multi-task MinAtar: one MuZero on several games against one MuZero per game, same env steps.

    python benchmarks/multitask_minatar.py                      # 3 games x 2 seeds, 100k/game
    python benchmarks/multitask_minatar.py --games MinAtar/Breakout-v0 MinAtar/Freeway-v0 \\
        --seeds 0 --env-steps 300 --eval-episodes 2 --smoke     # a check of the script (~1 min)

For every seed (``--seeds``, default 0 1):

- **multitask**: ``recipes/muzero_multitask_minatar.py --set env.tasks=[GAMES] --seed S
  --max-env-step T*N`` (``T`` games, ``N = --env-steps`` per game; replay capacity 100k per
  game, ``policy.replay_buffer_size = T * 100,000``);
- **single**: ``recipes/muzero_minatar.py --env-id GAME --seed S --max-env-step N`` for every
  game (same ``-v0`` ids, so the same 6 actions).

The multi-task run's total env steps equal the single-task runs' sum (``T * N``), and with the
recipes' replay ratio (updates per collected transition) the total gradient updates match too.
After training, each run's *final* checkpoint plays ``--eval-episodes`` (default 32) fresh-seed
episodes per game (``pipezero eval --ckpt final --seed S + 20,000``). ``--set KEY=VALUE`` goes
to every run; ``--smoke`` runs every recipe with ``--smoke`` (tiny network and search) for a
check of the script itself.

Prints one JSON object: every run (agent, game, seed, final mean and std, env steps, wall
seconds), and per game the median over seeds of the multi-task and the single-task agent's
final mean, their ratio and whether it meets the target (issue 21: the multi-task agent reaches
>= 80% of each single-task agent's return). A ratio is ``null`` where the single-task median is
not positive (no meaningful share). ``--results DIR`` keeps each finished run as a JSON file and
skips runs already there, so the suite can be filled over several invocations.
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

from pipezero.envs.multitask import task_name
from pipezero.recipe.run import FRESH_SEED_OFFSET

ROOT = Path(__file__).resolve().parents[1]
GAMES = ["MinAtar/Breakout-v0", "MinAtar/Asterix-v0", "MinAtar/Freeway-v0"]
REPLAY_PER_GAME = 100_000
TARGET = 0.8


def train_and_eval(cmd: list[str], run_dir: Path, seed: int, episodes: int) -> dict[str, Any]:
    """Run a recipe command, then evaluate its final checkpoint; ``(RESULT, eval JSON)``."""
    from pipezero.recipe import read_result

    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    result = read_result(proc.stdout)
    if proc.returncode != 0 or result is None:
        raise RuntimeError(
            f"failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}"
        )
    eval_cmd = [sys.executable, "-m", "pipezero.cli", "eval", str(run_dir), "--ckpt", "final"]
    eval_cmd += ["--episodes", str(episodes), "--seed", str(seed + FRESH_SEED_OFFSET)]
    # From the run directory: in this checkout's root `-m pipezero.cli` would import the source
    # tree's `pipezero/`, which lacks the recipes an installed (non-editable) pipezero ships.
    ev = subprocess.run(eval_cmd, capture_output=True, text=True, cwd=run_dir)
    if ev.returncode != 0:
        raise RuntimeError(f"eval failed: {' '.join(eval_cmd)}\n{ev.stderr[-3000:]}")
    final = json.loads(ev.stdout.strip().splitlines()[-1])
    return {"result": result, "final": final, "wall_s": round(time.time() - start, 1)}


def run_multitask(args: argparse.Namespace, seed: int, work: Path) -> list[dict[str, Any]]:
    run_dir = (work / f"multitask_s{seed}").resolve()
    cmd = [sys.executable, str(ROOT / "recipes" / "muzero_multitask_minatar.py")]
    cmd += ["--seed", str(seed), "--exp-dir", str(run_dir)]
    cmd += ["--max-env-step", str(args.env_steps * len(args.games))]
    cmd += ["--set", "env.tasks=" + json.dumps(args.games)]
    cmd += ["--set", f"policy.replay_buffer_size={REPLAY_PER_GAME * len(args.games)}"]
    out = train_and_eval(cmd + recipe_flags(args), run_dir, seed, args.eval_episodes)
    return [
        run_record("multitask", game, seed, out["final"][task_name(game)], out)
        for game in args.games
    ]


def run_single(args: argparse.Namespace, game: str, seed: int, work: Path) -> dict[str, Any]:
    run_dir = (work / f"single_{task_name(game)}_s{seed}").resolve()
    cmd = [sys.executable, str(ROOT / "recipes" / "muzero_minatar.py"), "--env-id", game]
    cmd += ["--seed", str(seed), "--exp-dir", str(run_dir)]
    cmd += ["--max-env-step", str(args.env_steps)]
    out = train_and_eval(cmd + recipe_flags(args), run_dir, seed, args.eval_episodes)
    return run_record("single", game, seed, out["final"], out)


def recipe_flags(args: argparse.Namespace) -> list[str]:
    flags = ["--smoke"] if args.smoke else []
    for item in args.set:
        flags += ["--set", item]
    return flags


def run_record(
    agent: str, game: str, seed: int, stats: dict[str, Any], out: dict[str, Any]
) -> dict[str, Any]:
    return {
        "agent": agent,
        "game": game,
        "seed": seed,
        "final_mean": float(stats["return_mean"]),
        "final_std": float(stats["return_std"]),
        "episodes": int(stats["num_episodes"]),
        "env_steps": int(out["result"]["env_step"]),
        "train_iter": int(out["result"]["train_iter"]),
        "wall_s": out["wall_s"],
    }


def summarise(runs: list[dict[str, Any]], games: list[str]) -> dict[str, Any]:
    per_game: dict[str, Any] = {}
    for game in games:
        medians = {}
        for agent in ("multitask", "single"):
            finals = [r["final_mean"] for r in runs if r["agent"] == agent and r["game"] == game]
            medians[agent] = statistics.median(finals) if finals else None
        multi, single = medians["multitask"], medians["single"]
        ratio = None if multi is None or single is None or single <= 0 else multi / single
        per_game[game] = {
            "multitask_median": multi,
            "single_median": single,
            "ratio": ratio,
            "meets_target": None if ratio is None else ratio >= TARGET,
        }
    met = [g["meets_target"] for g in per_game.values()]
    return {"per_game": per_game, "all_met": all(met) if None not in met else None}


def cached(results: Path | None, name: str, make: Any) -> Any:
    """``make()``, or the run stored as ``results/name.json`` (written after ``make()``)."""
    path = None if results is None else results / f"{name}.json"
    if path is not None and path.is_file():
        return json.loads(path.read_text())
    value = make()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, indent=1))
    return value


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--games", nargs="+", default=GAMES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--env-steps", type=int, default=100_000, help="per game")
    parser.add_argument("--eval-episodes", type=int, default=32, help="per game")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE for every run")
    parser.add_argument("--smoke", action="store_true", help="every recipe with --smoke")
    parser.add_argument("--work-dir", type=Path, default=None, help="run folders (temp dir)")
    parser.add_argument("--results", type=Path, default=None, help="keep/skip finished runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="multitask_minatar_") as tmp:
        work = args.work_dir or Path(tmp)
        tag = f"{args.env_steps}{'_smoke' if args.smoke else ''}"
        runs: list[dict[str, Any]] = []
        for seed in args.seeds:
            names = "+".join(task_name(g) for g in args.games)
            runs += cached(
                args.results,
                f"multitask_{names}_s{seed}_{tag}",
                lambda seed=seed: run_multitask(args, seed, work),
            )
            for game in args.games:
                runs.append(
                    cached(
                        args.results,
                        f"single_{task_name(game)}_s{seed}_{tag}",
                        lambda game=game, seed=seed: run_single(args, game, seed, work),
                    )
                )
    report = {
        "games": args.games,
        "seeds": args.seeds,
        "env_steps_per_game": args.env_steps,
        "multitask_env_steps": args.env_steps * len(args.games),
        "eval_episodes_per_game": args.eval_episodes,
        "target": f"multitask >= {TARGET:.0%} of each single-task agent's final return "
        "(median over seeds)",
        "runs": runs,
        **summarise(runs, args.games),
    }
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
