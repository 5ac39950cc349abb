"""Board-game learning benchmark: train a recipe for a wall-clock budget, then play matches.

    python benchmarks/board_games.py alphazero_tictactoe            # 10 min, vs minimax
    python benchmarks/board_games.py muzero_tictactoe               # 20 min, vs the rule bot
    python benchmarks/board_games.py alphazero_connect4             # 30 min, vs the rule bot
    python benchmarks/board_games.py alphazero_gomoku --minutes 20  # win rate vs random
    python benchmarks/board_games.py alphazero_tictactoe --eval-only runs/x   # no training

Training runs the recipe in a child process (``--max-minutes``, the budget includes the
periodic evaluations of the recipe), then the newest checkpoint (``final.pt``) is evaluated
here with fresh opponent seeds: ``--games`` games per opponent. The JSON printed on stdout
(and written to ``--out``) holds the training summary, the evaluation history of the run,
the final match results per side and whether the target was met. Wrap it in
``flock /tmp/pipezero-cpu.lock`` on a shared machine; wall-clock figures depend on the load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pipezero.checkpoint import FINAL_NAME, checkpoint_dir
from pipezero.envs.board import make_opponent, play_match
from pipezero.policy.board_checkpoint import load_board_player
from pipezero.recipe import read_result

ROOT = Path(__file__).resolve().parents[1]

#: name -> recipe, game, default minutes, final opponents (name, sides), target.
BENCHMARKS: dict[str, dict[str, Any]] = {
    "alphazero_tictactoe": {
        "recipe": "alphazero_tictactoe.py",
        "game": "tictactoe",
        "minutes": 10,
        "opponents": [("minimax", "both"), ("rule_bot", "both"), ("random", "both")],
        "target": "0 losses in 100 games vs minimax, 50 as first and 50 as second player",
    },
    "muzero_tictactoe": {
        "recipe": "muzero_tictactoe.py",
        "game": "tictactoe",
        "minutes": 20,
        "opponents": [("rule_bot", "first"), ("rule_bot", "both"), ("random", "both")],
        "target": "win rate >= 0.9 and no losses in 100 games vs the rule bot, agent first",
    },
    "alphazero_connect4": {
        "recipe": "alphazero_connect4.py",
        "game": "connect4",
        "minutes": 30,
        "opponents": [("rule_bot", "both"), ("random", "both")],
        "target": "win rate >= 0.9 vs the rule bot (50 games as first, 50 as second player)",
    },
    "alphazero_gomoku": {
        "recipe": "alphazero_gomoku.py",
        "game": "gomoku",
        "minutes": 20,
        "opponents": [("random", "both"), ("rule_bot", "both")],
        "target": "trains end to end; win rate vs random rises during training",
    },
}


def train(name: str, minutes: float, seed: int, exp_dir: Path, overrides: list[str]) -> dict:
    """Run the recipe in a child process; return its ``RESULT`` summary."""
    spec = BENCHMARKS[name]
    cmd = [sys.executable, str(ROOT / "recipes" / spec["recipe"]), "--seed", str(seed)]
    cmd += ["--exp-dir", str(exp_dir), "--max-minutes", str(minutes)]
    for item in overrides:
        cmd += ["--set", item]
    print("training: " + " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    parsed = read_result(proc.stdout)
    if proc.returncode != 0 or parsed is None:
        raise RuntimeError(
            f"{name} failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}"
        )
    summary = parsed
    summary["command"] = " ".join(cmd)
    return summary


def evaluate(name: str, run_dir: Path, games: int, seed: int, sims: int | None) -> dict:
    """Play the final checkpoint against the benchmark's opponents."""
    spec = BENCHMARKS[name]
    final = checkpoint_dir(run_dir) / FINAL_NAME
    source = final if final.is_file() else run_dir
    player, game, path = load_board_player(source, spec["game"], sims)
    results = {}
    for i, (opponent, sides) in enumerate(spec["opponents"]):
        start = time.perf_counter()
        match = play_match(
            game.copy,
            player,
            make_opponent(opponent, seed=10_000 + seed * 100 + i),
            games,
            opponent_name=opponent,
            sides=sides,
        )
        results[f"{opponent}_{sides}"] = match.to_dict() | {
            "eval_wall_s": time.perf_counter() - start
        }
        print(f"{name}: {match}", file=sys.stderr, flush=True)
    return {"checkpoint": str(path), "matches": results}


def target_met(name: str, matches: dict[str, Any], history: list[dict]) -> bool:
    """Whether the benchmark's target holds for these results."""
    if name == "alphazero_tictactoe":
        return matches["minimax_both"]["losses"] == 0
    if name == "muzero_tictactoe":
        first = matches["rule_bot_first"]
        return first["win_rate"] >= 0.9 and first["losses"] == 0
    if name == "alphazero_connect4":
        return matches["rule_bot_both"]["win_rate"] >= 0.9
    rates = [h["vs_random"]["win_rate"] for h in history if "vs_random" in h]
    return len(rates) >= 2 and max(rates[1:]) > rates[0]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
    parser.add_argument("--minutes", type=float, default=None, help="training budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--games", type=int, default=100, help="games per final match")
    parser.add_argument("--simulations", type=int, default=None, help="eval search budget")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--exp-dir", default=None, help="run directory (default: a temp dir)")
    parser.add_argument("--eval-only", metavar="RUN_DIR", default=None)
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    name = args.benchmark
    minutes = args.minutes if args.minutes is not None else BENCHMARKS[name]["minutes"]
    report: dict[str, Any] = {"benchmark": name, "target": BENCHMARKS[name]["target"]}
    report["load_average_at_start"] = os.getloadavg()  # 1, 5, 15 min: the machine is shared
    if args.eval_only:
        run_dir = Path(args.eval_only)
        history: list[dict] = []
    else:
        run_dir = Path(args.exp_dir or tempfile.mkdtemp(prefix=f"pipezero-{name}-"))
        summary = train(name, minutes, args.seed, run_dir, args.set)
        history = summary.pop("eval_history")
        report |= {"budget_minutes": minutes, "training": summary}
        report["eval_history"] = [
            {k: v for k, v in h.items() if k in ("train_iter", "env_step", "wall_s")}
            | {k: h[k]["win_rate"] for k in h if k.startswith("vs_")}
            | {k + "_losses": h[k]["losses"] for k in h if k.startswith("vs_")}
            for h in history
        ]
    report["final"] = evaluate(name, run_dir, args.games, args.seed, args.simulations)
    report["target_met"] = target_met(name, report["final"]["matches"], history)
    report["load_average_at_end"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return report


if __name__ == "__main__":
    main()
