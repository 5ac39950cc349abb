"""MuZero on TicTacToe: 8 games collected together, 25 simulations, discount 1.

    pipezero train muzero_tictactoe --seed 0        # or: python recipes/muzero_tictactoe.py
    pipezero train muzero_tictactoe --set env.battle_mode=self_play --mode async
    pipezero play tictactoe runs/muzero_tictactoe/RUN
    pipezero eval runs/muzero_tictactoe/RUN --episodes 100

``env.battle_mode``: ``play_with_bot`` (default, as LightZero) trains against the rule bot, its
reply part of the environment step (``to_play = -1``); here the agent takes either side and
the bot's non-urgent moves are noisy, so it learns to exploit the bot as first player and to
defend as second. ``self_play`` trains one model for both sides (``to_play`` 1 / 2, values
flip signs between the players). Evaluation (the ``eval`` section,
:mod:`pipezero.policy.board_config`) plays the rule bot and random, the agent moving first.
``gumbel_muzero_tictactoe`` reuses :func:`build` and :data:`TICTACTOE`.
Over 60 lines as the board MuZero chain and settings the Gumbel recipe shares.
"""

from __future__ import annotations

from pipezero.middleware.battle_eval import battle_eval
from pipezero.middleware.calc_update_count import calc_update_count
from pipezero.middleware.ckpt_saver import ckpt_saver
from pipezero.middleware.data_push import data_push
from pipezero.middleware.ddp_sync import ddp_sync
from pipezero.middleware.env_collect import env_collect
from pipezero.middleware.offpolicy_learn import offpolicy_learn
from pipezero.middleware.termination import termination
from pipezero.recipes.alphazero_tictactoe import summary  # noqa: F401
from pipezero.recipes.muzero_cartpole import DDP as SCALE_OUT  # noqa: F401

from pipezero.distributed import all_reduce_sum, rank0_only
from pipezero.envs import BatchEnv
from pipezero.envs.board import BoardGameGymEnv, game_factory, make_opponents
from pipezero.framework import Task, TrainContext
from pipezero.policy import MUZERO_CONFIG, MuZeroPolicy
from pipezero.policy.board_config import board_config
from pipezero.policy.board_player import PolicyPlayer
from pipezero.policy.muzero_build import build_muzero
from pipezero.recipe import Run, main

EPISODES_KEY = "eval.n_evaluator_episode"
SMOKE = {"eval.eval_freq": 10, "eval.n_evaluator_episode": 2}
#: The TicTacToe settings of the MuZero-family recipes (their search settings apart).
TICTACTOE = {
    # The agent plays either side against a rule bot whose non-urgent moves are noisy: it
    # learns to exploit the bot as first player without forgetting how to defend.
    "env.agent_player": "random",
    "env.bot_kwargs.randomness": 3.0,
    "policy.model.latent_dim": 64,
    "policy.model.num_hidden_layers": 2,
    "policy.model.support_size": 10,
    "policy.discount_factor": 1.0,
    "policy.td_steps": 9,
    "policy.num_unroll_steps": 3,
    "policy.game_segment_length": 12,
    "policy.collect_env_steps": 4,
    "policy.batch_size": 128,
    "policy.replay_buffer_size": 50_000,
}
CONFIG = board_config(MUZERO_CONFIG, TICTACTOE, {"policy.root_dirichlet_alpha": 0.3})


def build(run: Run, policy_class=MuZeroPolicy) -> Task:
    cfg, p, env = run.cfg, run.cfg.policy, run.cfg.env
    kwargs = {k: env[k] for k in ("game", "battle_mode", "bot", "agent_player", "bot_kwargs")}
    envs = BatchEnv.make(BoardGameGymEnv, env.collector_env_num, seed=cfg.seed, **kwargs)
    policy, buffer = build_muzero(cfg, envs, policy_class, device=run.device)
    opponents = make_opponents(cfg.eval.eval_opponents, cfg.seed)
    task = run.task(TrainContext(), policy, buffer)
    evaluator = run.acting(policy, "evaluator")  # async mode: a copy of its own
    single = env.battle_mode == "play_with_bot"  # the agent sees to_play = -1, as in training
    agent = PolicyPlayer(evaluator, single_player=single, name=run.recipe)
    match = battle_eval(cfg.eval, evaluator, agent, run.watch(game_factory(env.game)), opponents)
    task.use(rank0_only(match))
    task.use(env_collect(p, run.acting(policy), envs))
    task.use(data_push(buffer))
    task.use(calc_update_count(p, reduce_sum=all_reduce_sum))
    if run.ddp:
        task.use(ddp_sync(p, policy, buffer))
    task.use(offpolicy_learn(p, policy, buffer))
    task.use(rank0_only(ckpt_saver(run.exp_dir, policy, buffer, config=cfg)))
    task.use(termination(max_env_step=cfg.max_env_step))
    return task


if __name__ == "__main__":
    main(__file__)
