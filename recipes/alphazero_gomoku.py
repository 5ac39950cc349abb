"""AlphaZero on Gomoku (five in a row, 9x9 by default): self-play, 32 games searched together.

    python recipes/alphazero_gomoku.py --seed 0 --exp-dir runs/alphazero_gomoku
    python recipes/alphazero_gomoku.py --set env.game_kwargs.board_size=15 --max-minutes 60
    python recipes/alphazero_gomoku.py --resume runs/alphazero_gomoku
    pipezero play gomoku runs/alphazero_gomoku

The board size is ``env.game_kwargs.board_size`` (6 to 19). Evaluation plays random and the
rule bot (half the games as first player) every 500 updates; the run stops at
``max_env_step`` or ``--max-minutes``. The last line printed is ``RESULT {json}``
(``benchmarks/board_games.py`` reads it).
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

# Gomoku settings on top of pipezero/policy/alphazero_config.py.
GOMOKU = {
    "exp_dir": "runs/alphazero_gomoku",
    "max_env_step": 1_000_000,
    "env": {"game": "gomoku", "game_kwargs": {"board_size": 9}, "collector_env_num": 32},
    "policy": {
        "model": {"num_channels": 32, "num_res_blocks": 2, "value_hidden_size": 64},
        "num_simulations": 50,
        "eval_num_simulations": 50,
        "root_dirichlet_alpha": 0.3,
        "temperature_moves": 6,
        "batch_size": 256,
        "replay_buffer_size": 100_000,
        "replay_ratio": 0.05,
        "min_buffer_transitions": 1000,
        "eval_freq": 500,
        "n_evaluator_episode": 20,
        "eval_opponents": ["random", "rule_bot"],
    },
}


def main(argv: list[str] | None = None) -> TrainContext:
    parser = recipe_parser(__doc__, modes=("sync",), time_budget=True)
    args = parser.parse_args(argv)
    cfg = build_config(alphazero_config, GOMOKU, args, parser)
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
