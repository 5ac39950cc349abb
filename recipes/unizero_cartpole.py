"""UniZero on CartPole-v0 (200-step episodes): a small transformer world model, 25 simulations.

    python recipes/unizero_cartpole.py --seed 0 --exp-dir runs/unizero_cartpole
    python recipes/unizero_cartpole.py --set policy.model.context_length=16
    python recipes/unizero_cartpole.py --set policy.buffer_reanalyze_freq=0.25
    python recipes/unizero_cartpole.py --resume runs/unizero_cartpole

The collector returns after ``policy.num_segments`` finished game segments; the buffer's oldest
``reanalyze_partition`` is searched again ``buffer_reanalyze_freq`` times per collect. The run
stops when the mean evaluation return reaches ``policy.stop_value`` (195) or after
``--max-env-step`` environment steps. The last line printed is ``RESULT {json}``
(``benchmarks/unizero.py`` reads it).
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
from pipezero.model.unizero import UniZeroModel
from pipezero.policy.unizero import UniZeroPolicy
from pipezero.policy.unizero_config import unizero_config
from pipezero.recipe import build_config, recipe_parser, result_line, seed_everything

# CartPole settings on top of pipezero/policy/unizero_config.py.
CARTPOLE = {
    "exp_dir": "runs/unizero_cartpole",
    "max_env_step": 10_000,
    "env": {"env_id": "CartPole-v0", "collector_env_num": 8, "evaluator_env_num": 8},
    "policy": {
        "num_simulations": 25,
        "num_unroll_steps": 5,
        "td_steps": 10,  # 10-step returns carry the value faster through 200-step episodes
        "game_segment_length": 20,
        "num_segments": 8,  # one segment per collector environment per collect
        "batch_size": 128,
        "replay_ratio": 0.5,  # updates per collected transition
        "value_loss_weight": 0.5,
        "buffer_reanalyze_freq": 0.0,  # off by default here; see docs/unizero.md
        "eval_freq": 50,
        "stop_value": 195.0,
    },
}


def main(argv: list[str] | None = None) -> ReanalyzeContext:
    parser = recipe_parser(__doc__)
    args = parser.parse_args(argv)
    cfg = build_config(unizero_config, CARTPOLE, args, parser)
    seed_everything(cfg.seed)
    torch.set_num_threads(1)  # batches of 8 in the search: extra threads cost more than they give

    collect_envs = BatchEnv.make(cfg.env.env_id, cfg.env.collector_env_num, seed=cfg.seed)
    eval_envs = BatchEnv.make(cfg.env.env_id, cfg.env.evaluator_env_num, seed=cfg.seed + 10_000)
    p = cfg.policy
    obs_shape, num_actions = collect_envs.observation_shape, collect_envs.action_space_size
    model = UniZeroModel(obs_shape, num_actions, **p.model)
    policy = UniZeroPolicy(p, model, seed=cfg.seed)
    buffer = ReplayBuffer.from_config(p, seed=cfg.seed)
    ctx = ReanalyzeContext()
    if args.resume:
        resume(args.resume, ctx, policy, buffer)

    task = Task(ctx)
    task.use(interval_eval(p, policy, eval_envs))
    task.use(env_collect(p, policy, collect_envs))
    task.use(data_push(buffer, p.priority_eps, p.new_data_priority))
    if p.buffer_reanalyze_freq > 0:
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
            algorithm="unizero",
            seed=cfg.seed,
            start=start,
            eval_history=history,
            reanalyzed_states=ctx.reanalyzed_states,
        )
    )
    return ctx


if __name__ == "__main__":
    main()
