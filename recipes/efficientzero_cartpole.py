"""EfficientZero on CartPole-v0 (200-step episodes): 8 collector environments, 25 simulations.

    python recipes/efficientzero_cartpole.py --seed 0 --exp-dir runs/efficientzero_cartpole
    python recipes/efficientzero_cartpole.py --set policy.ssl_loss_weight=1.0
    python recipes/efficientzero_cartpole.py --resume runs/efficientzero_cartpole
    python recipes/efficientzero_cartpole.py --mode async    # roles run concurrently
    torchrun --nproc_per_node=2 recipes/efficientzero_cartpole.py --ddp    # 2 learner processes
    python recipes/efficientzero_cartpole.py --ray-actors 2                # 2 Ray self-play actors

The run stops when the mean evaluation return reaches ``policy.stop_value`` (195) or after
``--max-env-step`` environment steps. The last line printed is ``RESULT {json}``: counters,
wall time and the evaluation history (``benchmarks/learning.py`` reads it).
"""

from __future__ import annotations

import time
from functools import partial

import torch
from pipezero.middleware import (
    calc_update_count,
    ckpt_saver,
    data_push,
    ddp_sync,
    env_collect,
    interval_eval,
    offpolicy_learn,
    progress_bar,
    ray_collect,
    tb_logger,
    termination,
)

from pipezero.checkpoint import resume
from pipezero.data import ReplayBuffer
from pipezero.distributed import all_reduce_sum, rank0_only
from pipezero.envs import BatchEnv
from pipezero.framework import Event, Task, TrainContext
from pipezero.model import EfficientZeroMLP
from pipezero.policy import EfficientZeroPolicy, efficientzero_config
from pipezero.recipe import (
    acting_policy,
    build_config,
    engine_options,
    recipe_parser,
    result_line,
    seed_everything,
    start_scale_out,
)

# CartPole settings on top of pipezero/policy/efficientzero_config.py.
CARTPOLE = {
    "exp_dir": "runs/efficientzero_cartpole",
    "max_env_step": 20_000,
    "env": {"env_id": "CartPole-v0", "collector_env_num": 8, "evaluator_env_num": 8},
    "policy": {
        "num_simulations": 25,
        "td_steps": 10,  # 10-step returns carry the value faster through 200-step episodes
        "replay_ratio": 0.5,  # updates per collected transition
        "value_loss_weight": 0.5,
        "eval_freq": 50,
        "stop_value": 195.0,
        "new_data_priority": "value_error",  # measured faster than "max" here
    },
}


def main(argv: list[str] | None = None) -> TrainContext:
    parser = recipe_parser(__doc__, scale_out=True)
    args = parser.parse_args(argv)
    cfg = build_config(efficientzero_config, CARTPOLE, args, parser)
    start_scale_out(args, cfg, parser)  # --ddp: process group, a seed per rank
    seed_everything(cfg.seed)
    torch.set_num_threads(1)  # batches of 8 in the search: extra threads cost more than they give

    collect_envs = BatchEnv.make(cfg.env.env_id, cfg.env.collector_env_num, seed=cfg.seed)
    eval_envs = BatchEnv.make(cfg.env.env_id, cfg.env.evaluator_env_num, seed=cfg.seed + 10_000)
    p = cfg.policy
    model = EfficientZeroMLP(
        collect_envs.observation_shape, collect_envs.action_space_size, **p.model
    )
    policy = EfficientZeroPolicy(p, model, seed=cfg.seed)
    buffer = ReplayBuffer.from_config(p, seed=cfg.seed)
    ctx = TrainContext()
    if args.resume:
        resume(args.resume, ctx, policy, buffer)

    task = Task(ctx, **engine_options(args, p))  # --mode async: backend, weight store
    task.use(rank0_only(interval_eval(p, acting_policy(policy, args, cfg.seed), eval_envs)))
    if args.ray_actors:
        make_envs = partial(BatchEnv.make, cfg.env.env_id, cfg.env.collector_env_num)
        n, seed = args.ray_actors, cfg.seed
        task.use(ray_collect(p, policy, make_envs, collector=env_collect, num_actors=n, seed=seed))
    else:
        task.use(env_collect(p, acting_policy(policy, args, cfg.seed), collect_envs))
    task.use(data_push(buffer, p.priority_eps, p.new_data_priority))
    task.use(calc_update_count(p, reduce_sum=all_reduce_sum))
    if args.ddp:
        task.use(ddp_sync(p, policy, buffer))
    task.use(offpolicy_learn(p, policy, buffer))
    task.use(rank0_only(ckpt_saver(cfg.exp_dir, policy, buffer, save_freq=1000, save_buffer=True)))
    task.use(rank0_only(tb_logger(cfg.exp_dir)))
    task.use(rank0_only(progress_bar(cfg.max_env_step)))
    task.use(termination(max_env_step=cfg.max_env_step))

    start, history = time.perf_counter(), []
    task.on(Event.EVAL_DONE, lambda c, r: history.append(r | {"unix_time": time.time()}))
    ctx = task.run(mode=args.mode)
    print(
        result_line(
            ctx, algorithm="efficientzero", seed=cfg.seed, start=start, eval_history=history
        )
    )
    return ctx


if __name__ == "__main__":
    main()
