"""MuZero on TicTacToe: 8 games collected together, 25 simulations, discount 1.

    python recipes/muzero_tictactoe.py --seed 0 --exp-dir runs/muzero_tictactoe
    python recipes/muzero_tictactoe.py --set env.battle_mode=self_play   # two-player self-play
    python recipes/muzero_tictactoe.py --resume runs/muzero_tictactoe --max-minutes 20
    pipezero play tictactoe runs/muzero_tictactoe

Battle modes (``env.battle_mode``): ``play_with_bot`` (default, as LightZero) trains against
the rule bot, the bot's reply being part of the environment step (a single-agent view,
``to_play = -1``); here the agent takes either side and the bot's non-urgent moves are noisy
(``env.bot_kwargs.randomness``), so it learns to exploit the bot as first player and to defend
as second. ``self_play`` trains one model for both sides (``to_play`` 1 / 2, the search and the
value targets flip signs between the players). Evaluation (``eval`` section)
plays the rule bot and random with the agent moving first (``eval.eval_sides``). The last
line printed is ``RESULT {json}`` (``benchmarks/board_games.py`` reads it).
"""

from __future__ import annotations

import copy
import time
from functools import partial

import torch
from pipezero.middleware import (
    battle_eval,
    calc_update_count,
    ckpt_saver,
    data_push,
    env_collect,
    offpolicy_learn,
    progress_bar,
    tb_logger,
    termination,
    time_limit,
)

from pipezero.checkpoint import resume
from pipezero.config import merge_config
from pipezero.data import ReplayBuffer
from pipezero.envs import BatchEnv, GymAdapter
from pipezero.envs.board import BoardGameGymEnv, game_factory, make_opponent
from pipezero.framework import Task, TrainContext
from pipezero.model import MuZeroMLP
from pipezero.policy import MUZERO_CONFIG, MuZeroPolicy
from pipezero.policy.alphazero_build import save_run_config
from pipezero.policy.board_player import PolicyPlayer
from pipezero.recipe import build_config, recipe_parser, record_evals, result_line, seed_everything

# The MuZero defaults (pipezero/policy/muzero_config.py) plus the board-game keys.
DEFAULTS = copy.deepcopy(MUZERO_CONFIG)
DEFAULTS["env"] |= {"game": "tictactoe", "battle_mode": "play_with_bot", "bot": "rule_bot"}
DEFAULTS["env"] |= {"bot_kwargs": {}, "agent_player": 1}  # agent_player: 1, 2 or "random"
DEFAULTS["eval"] = {
    "eval_freq": 500,
    "n_evaluator_episode": 50,
    "eval_opponents": ["rule_bot", "random"],
    "eval_sides": "first",
    "stop_opponent": None,
    "stop_win_rate": 0.0,
    "stop_loss_rate": 0.0,
}

TICTACTOE = {
    "exp_dir": "runs/muzero_tictactoe",
    "max_env_step": 100_000,
    # The agent plays either side against a rule bot whose non-urgent moves are noisy: it
    # learns to exploit the bot as first player without forgetting how to defend.
    "env": {
        "env_id": "pipezero-board",
        "collector_env_num": 8,
        "agent_player": "random",
        "bot_kwargs": {"randomness": 3.0},
    },
    "policy": {
        "model": {
            "latent_dim": 64,
            "hidden_dim": 128,
            "num_hidden_layers": 2,
            "support_size": 10,
            "reward_support_size": 5,
        },
        "num_simulations": 25,
        "discount_factor": 1.0,
        "root_dirichlet_alpha": 0.3,
        "td_steps": 9,
        "num_unroll_steps": 3,
        "game_segment_length": 12,
        "collect_env_steps": 4,
        "batch_size": 128,
        "replay_ratio": 0.25,
        "min_buffer_transitions": 256,
        "replay_buffer_size": 50_000,
        "learning_rate": 3e-3,
    },
}


def make_envs(cfg, num: int, seed: int) -> BatchEnv:
    """``num`` games in the configured battle mode, behind the gymnasium adapter."""
    env = cfg.env
    return BatchEnv(
        [
            GymAdapter(
                BoardGameGymEnv(
                    env.game, env.battle_mode, env.bot, env.agent_player, bot_kwargs=env.bot_kwargs
                ),
                seed=seed + i,
            )
            for i in range(num)
        ]
    )


def main(argv: list[str] | None = None) -> TrainContext:
    parser = recipe_parser(__doc__, modes=("sync",), time_budget=True)
    args = parser.parse_args(argv)
    cfg = build_config(partial(merge_config, DEFAULTS), TICTACTOE, args, parser)
    seed_everything(cfg.seed)
    torch.set_num_threads(1)
    collect_envs = make_envs(cfg, cfg.env.collector_env_num, cfg.seed)
    model = MuZeroMLP(
        collect_envs.observation_shape, collect_envs.action_space_size, **cfg.policy.model
    )
    policy = MuZeroPolicy(cfg.policy, model, seed=cfg.seed)
    p = cfg.policy
    buffer = ReplayBuffer.from_config(p, seed=cfg.seed)
    single_player = cfg.env.battle_mode == "play_with_bot"
    agent = PolicyPlayer(policy, single_player=single_player, name="muzero")
    opponents = {
        name: make_opponent(name, seed=cfg.seed + 100 + i)
        for i, name in enumerate(cfg.eval.eval_opponents)
    }
    save_run_config(cfg, "muzero")
    ctx = TrainContext()
    if args.resume:
        resume(args.resume, ctx, policy, buffer)

    task = Task(ctx)
    if args.max_minutes is not None:
        task.use(time_limit(args.max_minutes * 60))
    task.use(battle_eval(cfg.eval, policy, agent, game_factory(cfg.env.game), opponents))
    task.use(env_collect(p, policy, collect_envs))
    task.use(data_push(buffer))
    task.use(calc_update_count(p))
    task.use(offpolicy_learn(p, policy, buffer))
    task.use(ckpt_saver(cfg.exp_dir, policy, buffer, save_freq=1000))
    task.use(tb_logger(cfg.exp_dir))
    task.use(progress_bar(cfg.max_env_step))
    task.use(termination(max_env_step=cfg.max_env_step))

    start = time.perf_counter()
    history = record_evals(task, start)
    ctx = task.run(mode=args.mode)
    summary = {"game": cfg.env.game, "battle_mode": cfg.env.battle_mode, "exp_dir": cfg.exp_dir}
    summary["eval_history"] = history
    print(result_line(ctx, algorithm="muzero", seed=cfg.seed, start=start, **summary))
    return ctx


if __name__ == "__main__":
    main()
