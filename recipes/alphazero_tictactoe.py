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

import time

import torch
from pipezero.middleware import (
    battle_eval,
    calc_update_count,
    ckpt_saver,
    data_push,
    offpolicy_learn,
    progress_bar,
    selfplay_collect,
    tb_logger,
    termination,
    time_limit,
)

from pipezero.checkpoint import resume
from pipezero.framework import Task, TrainContext
from pipezero.policy.alphazero_build import build_alphazero, save_run_config
from pipezero.policy.alphazero_config import alphazero_config
from pipezero.recipe import build_config, recipe_parser, record_evals, result_line, seed_everything

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


def main(argv: list[str] | None = None) -> TrainContext:
    parser = recipe_parser(__doc__, modes=("sync",), time_budget=True)
    args = parser.parse_args(argv)
    cfg = build_config(alphazero_config, TICTACTOE, args, parser)
    seed_everything(cfg.seed)
    torch.set_num_threads(1)  # small boards: one thread beats two on a shared machine
    parts = build_alphazero(cfg)  # game factory, network, policy, replay buffer, players
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

    start = time.perf_counter()
    history = record_evals(task, start)
    ctx = task.run(mode=args.mode)
    summary = {"game": cfg.env.game, "exp_dir": cfg.exp_dir, "env_episode": ctx.env_episode}
    summary["eval_history"] = history
    print(result_line(ctx, algorithm="alphazero", seed=cfg.seed, start=start, **summary))
    return ctx


if __name__ == "__main__":
    main()
