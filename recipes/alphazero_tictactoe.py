"""AlphaZero on TicTacToe: self-play with 32 games searched together, 50 simulations a move.

    python recipes/alphazero_tictactoe.py --seed 0 --exp-dir runs/alphazero_tictactoe
    python recipes/alphazero_tictactoe.py --set policy.num_simulations=100 --max-minutes 10
    python recipes/alphazero_tictactoe.py --resume runs/alphazero_tictactoe
    pipezero play tictactoe runs/alphazero_tictactoe

Evaluation plays random, the rule bot and the perfect minimax player (half the games as first
player) every 1500 updates; the run stops at ``max_env_step`` or ``--max-minutes`` (or, with
``--set policy.stop_opponent=minimax``, at the first evaluation without a loss to minimax).
The last line printed is ``RESULT {json}`` (``benchmarks/board_games.py`` reads it).
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np
import torch
from pipezero.middleware import (
    calc_update_count,
    ckpt_saver,
    data_push,
    progress_bar,
    tb_logger,
    termination,
)
from pipezero.middleware.battle_eval import battle_eval
from pipezero.middleware.offpolicy_learn import offpolicy_learn
from pipezero.middleware.selfplay_collect import selfplay_collect
from pipezero.middleware.time_limit import time_limit

from pipezero.checkpoint import resume
from pipezero.config import merge_config, parse_set_overrides
from pipezero.framework import Event, Task, TrainContext
from pipezero.policy.alphazero_build import build_alphazero, save_run_config
from pipezero.policy.alphazero_config import alphazero_config

# TicTacToe settings on top of pipezero/policy/alphazero_config.py.
TICTACTOE = {
    "exp_dir": "runs/alphazero_tictactoe",
    "max_env_step": 100_000,
    "env": {"game": "tictactoe", "collector_env_num": 32},
    "policy": {
        "model": {"num_channels": 32, "num_res_blocks": 1, "value_hidden_size": 32},
        "num_simulations": 50,
        "eval_num_simulations": 100,
        "temperature_moves": 3,
        "batch_size": 128,
        "replay_buffer_size": 20_000,
        "replay_ratio": 0.25,
        "eval_freq": 1500,
        "n_evaluator_episode": 50,
        "eval_opponents": ["random", "rule_bot", "minimax"],
    },
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--exp-dir", default=None)
    parser.add_argument("--max-env-step", type=int, default=None)
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--resume", metavar="RUN_DIR", default=None)
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace):
    cfg = merge_config(alphazero_config(TICTACTOE), parse_set_overrides(args.set))
    flags = {"seed": args.seed, "exp_dir": args.exp_dir, "max_env_step": args.max_env_step}
    return merge_config(cfg, {k: v for k, v in flags.items() if v is not None})


def main(argv: list[str] | None = None) -> TrainContext:
    args = parse_args(argv)
    cfg = build_config(args)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(1)  # small boards: one thread beats two on a shared machine
    parts = build_alphazero(cfg)
    policy, buffer, p = parts.policy, parts.buffer, cfg.policy
    num_games, battle_mode = cfg.env.collector_env_num, cfg.env.battle_mode
    save_run_config(cfg, "alphazero")
    ctx = TrainContext()
    if args.resume:
        resume(args.resume, ctx, policy, buffer)

    task = Task(ctx)
    if args.max_minutes is not None:
        task.use(time_limit(args.max_minutes * 60))
    task.use(battle_eval(p, policy, parts.agent, parts.make_game, parts.opponents))
    task.use(selfplay_collect(p, policy, parts.make_game, num_games, battle_mode, parts.bot))
    task.use(data_push(buffer))
    task.use(calc_update_count(p))
    task.use(offpolicy_learn(p, policy, buffer))
    task.use(ckpt_saver(cfg.exp_dir, policy, buffer, save_freq=1000))
    task.use(tb_logger(cfg.exp_dir))
    task.use(progress_bar(cfg.max_env_step))
    task.use(termination(max_env_step=cfg.max_env_step, max_train_iter=cfg.max_train_iter))

    start, history = time.perf_counter(), []
    task.on(
        Event.EVAL_DONE, lambda c, r: history.append(r | {"wall_s": time.perf_counter() - start})
    )
    ctx = task.run()
    summary = {
        "algorithm": "alphazero",
        "game": cfg.env.game,
        "seed": cfg.seed,
        "exp_dir": cfg.exp_dir,
        "finish_reason": ctx.finish_reason,
        "env_step": ctx.env_step,
        "env_episode": ctx.env_episode,
        "train_iter": ctx.train_iter,
        "wall_s": time.perf_counter() - start,
        "eval_history": history,
    }
    print("RESULT " + json.dumps(summary))
    return ctx


if __name__ == "__main__":
    main()
