"""AlphaZero on Connect Four (6x7): self-play with 32 games searched together.

    python recipes/alphazero_connect4.py --seed 0 --exp-dir runs/alphazero_connect4
    python recipes/alphazero_connect4.py --max-minutes 30 --set policy.num_simulations=100
    python recipes/alphazero_connect4.py --resume runs/alphazero_connect4
    pipezero play connect4 runs/alphazero_connect4

Every 2000 updates, evaluation plays 100 games against the rule bot (50 as first player, 50
as second) with a 200-simulation search averaged over the board's mirror image; the run stops
at ``max_env_step`` or ``--max-minutes`` (``--set policy.stop_opponent=rule_bot --set
policy.stop_win_rate=0.95`` stops at the first evaluation winning 95%, but such a stop was
lucky twice: the few distinct lines of one match need not be those of the next).
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

# Connect4 settings on top of pipezero/policy/alphazero_config.py.
CONNECT4 = {
    "exp_dir": "runs/alphazero_connect4",
    "max_env_step": 300_000,
    "env": {"game": "connect4", "collector_env_num": 32},
    "policy": {
        "model": {"num_channels": 32, "num_res_blocks": 2, "value_hidden_size": 64},
        "num_simulations": 50,
        "eval_num_simulations": 200,  # the agent's search in evaluation and play
        "eval_average_symmetries": True,  # mirrored positions played alike (see below)
        "root_dirichlet_alpha": 1.0,
        "temperature_moves": 8,
        "batch_size": 256,
        "replay_buffer_size": 100_000,
        "replay_ratio": 0.05,
        "min_buffer_transitions": 1000,
        "lr_schedule": "cosine",  # to lr_final_ratio over ~30 minutes of updates
        "lr_decay_iters": 15_000,
        # The benchmark's match: 100 games, 50 on each side. No early stop: the deterministic
        # agent and the rule bot play only a few distinct lines per match, so one perfect
        # evaluation does not carry over to other bot seeds (docs/board_games.md).
        "eval_freq": 2000,
        "n_evaluator_episode": 100,
        "eval_opponents": ["rule_bot"],
    },
}


def main(argv: list[str] | None = None) -> TrainContext:
    parser = recipe_parser(__doc__, modes=("sync",), time_budget=True)
    args = parser.parse_args(argv)
    cfg = build_config(alphazero_config, CONNECT4, args, parser)
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
