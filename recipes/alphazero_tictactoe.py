"""AlphaZero on TicTacToe: self-play with 32 games searched together, 50 simulations a move.

    pipezero train alphazero_tictactoe --seed 0     # or: python recipes/alphazero_tictactoe.py
    pipezero train alphazero_tictactoe --set policy.num_simulations=100 --max-minutes 10
    pipezero train alphazero_tictactoe --resume latest
    pipezero play tictactoe runs/alphazero_tictactoe/RUN
    pipezero eval runs/alphazero_tictactoe/RUN --episodes 100

Evaluation plays random, the rule bot and the perfect minimax player (half the games as first
player) every 1500 updates; the run stops at ``max_env_step`` or ``--max-minutes`` (or, with
``--set policy.stop_opponent=minimax``, at the first evaluation without a loss to minimax).
The chain is that of every AlphaZero recipe: ``alphazero_connect4`` and ``alphazero_gomoku``
reuse :func:`build` with their own settings. Sync mode only: self-play and evaluation act
with the learner's policy (AlphaZeroPolicy has no ``acting_copy``).
Over 60 lines as the one AlphaZero chain the three board-game recipes share.
"""

from __future__ import annotations

from pipezero.middleware.battle_eval import battle_eval
from pipezero.middleware.calc_update_count import calc_update_count
from pipezero.middleware.ckpt_saver import ckpt_saver
from pipezero.middleware.data_push import data_push
from pipezero.middleware.ddp_sync import ddp_sync
from pipezero.middleware.offpolicy_learn import offpolicy_learn
from pipezero.middleware.selfplay_collect import selfplay_collect
from pipezero.middleware.termination import termination
from pipezero.recipes.muzero_cartpole import DDP as SCALE_OUT  # noqa: F401

from pipezero.distributed import all_reduce_sum, rank0_only
from pipezero.framework import Task, TrainContext
from pipezero.policy.alphazero_build import build_alphazero
from pipezero.policy.alphazero_config import alphazero_config
from pipezero.recipe import Run, main

MODES = ("sync",)
CONFIG = alphazero_config(
    {
        "max_env_step": 100_000,
        "env.game": "tictactoe",
        "policy.model.num_res_blocks": 1,
        "policy.model.value_hidden_size": 32,
        "policy.eval_num_simulations": 100,
        "policy.temperature_moves": 3,
        "policy.replay_buffer_size": 20_000,
        "policy.eval_freq": 1500,
        "policy.n_evaluator_episode": 50,
        "policy.eval_opponents": ["random", "rule_bot", "minimax"],
    }
)


def build(run: Run) -> Task:
    cfg, p, env = run.cfg, run.cfg.policy, run.cfg.env
    parts = build_alphazero(cfg, device=run.device)  # game, network, policy, buffer, players
    policy, buffer, make_game = parts.policy, parts.buffer, parts.make_game
    games, mode = env.collector_env_num, env.battle_mode
    task = run.task(TrainContext(), policy, buffer)
    task.use(rank0_only(battle_eval(p, policy, parts.agent, run.watch(make_game), parts.opponents)))
    task.use(selfplay_collect(p, policy, make_game, games, mode, parts.bot))
    task.use(data_push(buffer))
    task.use(calc_update_count(p, reduce_sum=all_reduce_sum))
    if run.ddp:
        task.use(ddp_sync(p, policy, buffer))
    task.use(offpolicy_learn(p, policy, buffer))
    task.use(rank0_only(ckpt_saver(run.exp_dir, policy, buffer, config=cfg)))
    task.use(termination(max_env_step=cfg.max_env_step, max_train_iter=cfg.max_train_iter))
    return task


def summary(run: Run, ctx: TrainContext) -> dict:
    """The board recipes' extra result entries."""
    return {"game": run.cfg.env.game, "battle_mode": run.cfg.env.battle_mode}


if __name__ == "__main__":
    main(__file__)
