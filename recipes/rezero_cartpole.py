"""ReZero on CartPole-v0: MuZero plus whole-buffer backward-view reanalysis (buffer_reanalyze).

    python recipes/rezero_cartpole.py --seed 0 --exp-dir runs/rezero_cartpole
    python recipes/rezero_cartpole.py --set policy.reuse_search=False   # full reanalysis
    python recipes/rezero_cartpole.py --set policy.collect_with_pure_policy=True
    python recipes/rezero_cartpole.py --resume runs/rezero_cartpole

Every collect, ``buffer_reanalyze`` searches the next ``reanalyze_batch_size`` stored segments
again with the target network, last position first, reusing each successor's root value for
the action taken. The run stops when the mean evaluation return reaches ``policy.stop_value``
(195) or after ``--max-env-step`` environment steps. The last line printed is
``RESULT {json}``: counters (reanalysis ones included), wall time and the evaluation history.
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
from pipezero.middleware.buffer_reanalyze import ReanalyzeContext, buffer_reanalyze

from pipezero.checkpoint import resume
from pipezero.data import ReplayBuffer
from pipezero.envs import BatchEnv
from pipezero.framework import Event, Task
from pipezero.model import MuZeroMLP
from pipezero.policy.rezero import ReZeroPolicy
from pipezero.policy.rezero_config import rezero_config
from pipezero.recipe import build_config, recipe_parser, result_line, seed_everything

# CartPole settings on top of pipezero/policy/rezero_config.py.
CARTPOLE = {
    "exp_dir": "runs/rezero_cartpole",
    "max_env_step": 10_000,
    "env": {"env_id": "CartPole-v0", "collector_env_num": 8, "evaluator_env_num": 8},
    "policy": {
        "num_simulations": 25,
        "td_steps": 10,  # 10-step returns carry the value faster through 200-step episodes
        "replay_ratio": 0.5,  # updates per collected transition
        "value_loss_weight": 0.5,
        "eval_freq": 50,
        "stop_value": 195.0,
        "buffer_reanalyze_freq": 1.0,  # one pass per collect (16 x 8 env steps)
        "reanalyze_batch_size": 32,  # segments (windows of 65 positions) per pass
    },
}


def main(argv: list[str] | None = None) -> ReanalyzeContext:
    parser = recipe_parser(__doc__)
    args = parser.parse_args(argv)
    cfg = build_config(rezero_config, CARTPOLE, args, parser)
    seed_everything(cfg.seed)
    torch.set_num_threads(1)  # small batches: extra threads cost more than they give

    collect_envs = BatchEnv.make(cfg.env.env_id, cfg.env.collector_env_num, seed=cfg.seed)
    eval_envs = BatchEnv.make(cfg.env.env_id, cfg.env.evaluator_env_num, seed=cfg.seed + 10_000)
    p = cfg.policy
    obs_shape, num_actions = collect_envs.observation_shape, collect_envs.action_space_size
    model = MuZeroMLP(obs_shape, num_actions, **p.model)
    policy = ReZeroPolicy(p, model, seed=cfg.seed)
    buffer = ReplayBuffer.from_config(p, seed=cfg.seed)
    ctx = ReanalyzeContext()
    if args.resume:
        resume(args.resume, ctx, policy, buffer)

    task = Task(ctx)
    task.use(interval_eval(p, policy, eval_envs))
    task.use(env_collect(p, policy, collect_envs))
    task.use(data_push(buffer, p.priority_eps, p.new_data_priority))
    task.use(buffer_reanalyze(p, policy, buffer))
    task.use(calc_update_count(p))
    task.use(offpolicy_learn(p, policy, buffer))
    task.use(ckpt_saver(cfg.exp_dir, policy, buffer, save_freq=1000, save_buffer=True))
    task.use(tb_logger(cfg.exp_dir))
    task.use(progress_bar(cfg.max_env_step))
    task.use(termination(max_env_step=cfg.max_env_step))

    start, history = time.perf_counter(), []
    task.on(Event.EVAL_DONE, lambda c, r: history.append(r | {"unix_time": time.time()}))
    ctx = task.run(mode=args.mode)
    print(
        result_line(
            ctx,
            algorithm="rezero" if p.reuse_search else "muzero_full_reanalysis",
            seed=cfg.seed,
            start=start,
            reanalyzed_states=ctx.reanalyzed_states,
            reanalyze_network_calls=ctx.reanalyze_network_calls,
            reanalyze_state_evaluations=ctx.reanalyze_state_evaluations,
            reanalyze_s=ctx.reanalyze_seconds,
            eval_history=history,
        )
    )
    return ctx


if __name__ == "__main__":
    main()
