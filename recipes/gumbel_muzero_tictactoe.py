"""Gumbel MuZero on TicTacToe: 8 games collected together, 16 simulations, discount 1.

    python recipes/gumbel_muzero_tictactoe.py --seed 0 --exp-dir runs/gumbel_muzero_tictactoe
    python recipes/gumbel_muzero_tictactoe.py --set env.battle_mode=self_play   # self-play
    python recipes/gumbel_muzero_tictactoe.py --resume runs/gumbel_muzero_tictactoe
    python recipes/gumbel_muzero_tictactoe.py --mlflow   # also track the run with MLflow

The chain of ``recipes/muzero_tictactoe.py`` with the Gumbel MuZero policy
(``pipezero/policy/gumbel_muzero.py``): Gumbel-top-k over the legal moves at the root,
sequential halving over the simulations, the completed-Q improved policy as the policy target
and no noise at evaluation. Battle modes (``env.battle_mode``): ``play_with_bot`` (default)
trains against the rule bot, whose reply is part of the environment step (``to_play = -1``),
the agent taking either side; ``self_play`` trains one model for both sides (``to_play`` 1 / 2;
the search and the value targets flip signs between the players). Evaluation (``eval``
section) plays the rule bot and random with the agent moving first. The last line printed is
``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch
from pipezero.middleware import (
    calc_update_count,
    ckpt_saver,
    data_push,
    env_collect,
    offpolicy_learn,
    progress_bar,
    tb_logger,
    termination,
)
from pipezero.middleware.battle_eval import battle_eval
from pipezero.middleware.mlflow_logger import mlflow_logger
from pipezero.middleware.time_limit import time_limit

from pipezero.checkpoint import resume
from pipezero.config import merge_config, parse_set_overrides
from pipezero.data import ReplayBuffer
from pipezero.envs import BatchEnv, GymAdapter
from pipezero.envs.board import BoardGameGymEnv, game_factory, make_opponent
from pipezero.framework import Event, Task, TrainContext
from pipezero.model import MuZeroMLP
from pipezero.policy.alphazero_build import save_run_config
from pipezero.policy.board_player import PolicyPlayer
from pipezero.policy.gumbel_muzero import GumbelMuZeroPolicy
from pipezero.policy.gumbel_muzero_config import GUMBEL_MUZERO_CONFIG
from pipezero.recipe import seed_everything

# The Gumbel MuZero defaults (pipezero/policy/gumbel_muzero_config.py) plus the board-game keys.
DEFAULTS = copy.deepcopy(dict(GUMBEL_MUZERO_CONFIG))
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
    "exp_dir": "runs/gumbel_muzero_tictactoe",
    "max_env_step": 100_000,
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
        "num_simulations": 16,
        "max_num_considered_actions": 9,  # every legal move enters sequential halving
        "discount_factor": 1.0,
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--exp-dir", default=None)
    parser.add_argument("--max-env-step", type=int, default=None)
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--resume", metavar="RUN_DIR", default=None)
    parser.add_argument("--mlflow", action="store_true", help="also log the run to MLflow")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace):
    cfg = merge_config(merge_config(DEFAULTS, TICTACTOE), parse_set_overrides(args.set))
    flags = {"seed": args.seed, "exp_dir": args.exp_dir, "max_env_step": args.max_env_step}
    return merge_config(cfg, {k: v for k, v in flags.items() if v is not None})


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
    args = parse_args(argv)
    cfg = build_config(args)
    seed_everything(cfg.seed)
    torch.set_num_threads(1)
    collect_envs = make_envs(cfg, cfg.env.collector_env_num, cfg.seed)
    p = cfg.policy
    model = MuZeroMLP(collect_envs.observation_shape, collect_envs.action_space_size, **p.model)
    policy = GumbelMuZeroPolicy(p, model, seed=cfg.seed)
    buffer = ReplayBuffer.from_config(p, seed=cfg.seed)
    single_player = cfg.env.battle_mode == "play_with_bot"
    agent = PolicyPlayer(policy, single_player=single_player, name="gumbel_muzero")
    opponents = {
        name: make_opponent(name, seed=cfg.seed + 100 + i)
        for i, name in enumerate(cfg.eval.eval_opponents)
    }
    save_run_config(cfg, "gumbel_muzero")
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
    if args.mlflow:
        task.use(mlflow_logger(cfg.exp_dir, cfg, run_name=f"gumbel_muzero_{cfg.env.game}"))
    task.use(progress_bar(cfg.max_env_step))
    task.use(termination(max_env_step=cfg.max_env_step))

    start, history = time.perf_counter(), []
    task.on(
        Event.EVAL_DONE, lambda c, r: history.append(r | {"wall_s": time.perf_counter() - start})
    )
    ctx = task.run()
    summary = {
        "algorithm": "gumbel_muzero",
        "game": cfg.env.game,
        "battle_mode": cfg.env.battle_mode,
        "seed": cfg.seed,
        "exp_dir": cfg.exp_dir,
        "finish_reason": ctx.finish_reason,
        "env_step": ctx.env_step,
        "train_iter": ctx.train_iter,
        "wall_s": time.perf_counter() - start,
        "eval_history": history,
    }
    print("RESULT " + json.dumps(summary))
    return ctx


if __name__ == "__main__":
    main()
