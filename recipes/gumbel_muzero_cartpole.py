"""Gumbel MuZero on CartPole-v0 (200-step episodes): 8 collector environments, 8 simulations.

    python recipes/gumbel_muzero_cartpole.py --seed 0 --exp-dir runs/gumbel_muzero_cartpole
    python recipes/gumbel_muzero_cartpole.py --set policy.num_simulations=4
    python recipes/gumbel_muzero_cartpole.py --mlflow      # also track the run with MLflow
    python recipes/gumbel_muzero_cartpole.py --resume runs/gumbel_muzero_cartpole

Gumbel search improves the policy with very few simulations: the collector plays the action
sequential halving picks under root Gumbel noise and the learner trains the policy towards the
completed-Q improved policy (see ``pipezero/policy/gumbel_muzero.py``). The run stops when the
mean evaluation return reaches ``policy.stop_value`` (195) or after ``--max-env-step``
environment steps. The last line printed is ``RESULT {json}`` (``benchmarks/gumbel.py`` reads
it).
"""

from __future__ import annotations

import time

import torch
from pipezero.middleware import (
    calc_update_count,
    ckpt_saver,
    data_push,
    env_collect,
    interval_eval,
    offpolicy_learn,
    progress_bar,
    tb_logger,
    termination,
)
from pipezero.middleware.mlflow_logger import mlflow_logger

from pipezero.checkpoint import resume
from pipezero.data import ReplayBuffer
from pipezero.envs import BatchEnv
from pipezero.framework import Event, Task, TrainContext
from pipezero.model import MuZeroMLP
from pipezero.policy.gumbel_muzero import GumbelMuZeroPolicy
from pipezero.policy.gumbel_muzero_config import gumbel_muzero_config
from pipezero.recipe import build_config, recipe_parser, result_line, seed_everything

# CartPole settings on top of pipezero/policy/gumbel_muzero_config.py.
CARTPOLE = {
    "exp_dir": "runs/gumbel_muzero_cartpole",
    "max_env_step": 20_000,
    "env": {"env_id": "CartPole-v0", "collector_env_num": 8, "evaluator_env_num": 8},
    "policy": {
        "num_simulations": 8,  # both actions get 4 visits; MuZero's PUCT recipe uses 25
        "td_steps": 10,  # 10-step returns carry the value faster through 200-step episodes
        "replay_ratio": 0.5,  # updates per collected transition
        "value_loss_weight": 0.5,
        "eval_freq": 50,
        "stop_value": 195.0,
    },
}


def main(argv: list[str] | None = None) -> TrainContext:
    parser = recipe_parser(__doc__)
    parser.add_argument("--mlflow", action="store_true", help="also log the run to MLflow")
    args = parser.parse_args(argv)
    cfg = build_config(gumbel_muzero_config, CARTPOLE, args, parser)
    seed_everything(cfg.seed)
    torch.set_num_threads(1)  # batches of 8 in the search: extra threads cost more than they give

    collect_envs = BatchEnv.make(cfg.env.env_id, cfg.env.collector_env_num, seed=cfg.seed)
    eval_envs = BatchEnv.make(cfg.env.env_id, cfg.env.evaluator_env_num, seed=cfg.seed + 10_000)
    p = cfg.policy
    obs_shape, num_actions = collect_envs.observation_shape, collect_envs.action_space_size
    model = MuZeroMLP(obs_shape, num_actions, **p.model)
    policy = GumbelMuZeroPolicy(p, model, seed=cfg.seed)
    buffer = ReplayBuffer.from_config(p, seed=cfg.seed)
    ctx = TrainContext()
    if args.resume:
        resume(args.resume, ctx, policy, buffer)

    task = Task(ctx)
    task.use(interval_eval(p, policy, eval_envs))
    task.use(env_collect(p, policy, collect_envs))
    task.use(data_push(buffer, p.priority_eps, p.new_data_priority))
    task.use(calc_update_count(p))
    task.use(offpolicy_learn(p, policy, buffer))
    task.use(ckpt_saver(cfg.exp_dir, policy, buffer, save_freq=1000, save_buffer=True))
    task.use(tb_logger(cfg.exp_dir))
    if args.mlflow:
        task.use(mlflow_logger(cfg.exp_dir, cfg, run_name=f"gumbel_muzero_cartpole-{cfg.seed}"))
    task.use(progress_bar(cfg.max_env_step))
    task.use(termination(max_env_step=cfg.max_env_step))

    start, history = time.perf_counter(), []
    task.on(Event.EVAL_DONE, lambda c, r: history.append(r | {"unix_time": time.time()}))
    ctx = task.run(mode=args.mode)
    print(
        result_line(
            ctx, algorithm="gumbel_muzero", seed=cfg.seed, start=start, eval_history=history
        )
    )
    return ctx


if __name__ == "__main__":
    main()
