"""Sampled EfficientZero on MountainCarContinuous-v0 (continuous force, 999-step episodes).

    python recipes/sampled_efficientzero_mountaincar.py --seed 0 --exp-dir runs/sez_mountaincar
    python recipes/sampled_efficientzero_mountaincar.py --set policy.num_of_sampled_actions=20

The reward is +100 for reaching the flag minus ``0.1 a^2`` per step, so an agent that has never
reached the flag learns to stand still; exploration comes from a wide initial policy
(``sigma_type="fixed"``, std 1 before the tanh) and few, long episodes. The run stops at
``policy.stop_value`` (90) or after ``--max-env-step`` environment steps; the last line
printed is ``RESULT {json}``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

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

from pipezero.checkpoint import resume
from pipezero.data import ReplayBuffer
from pipezero.envs import BatchEnv
from pipezero.framework import Event, Task, TrainContext
from pipezero.model.sampled_efficientzero import SampledEfficientZeroMLP
from pipezero.policy.sampled_efficientzero import SampledEfficientZeroPolicy
from pipezero.policy.sampled_efficientzero_config import sampled_efficientzero_config
from pipezero.recipe import build_config, recipe_parser, result_line, seed_everything

# MountainCarContinuous settings on top of pipezero/policy/sampled_efficientzero_config.py.
MOUNTAINCAR = {
    "exp_dir": "runs/sampled_efficientzero_mountaincar",
    "max_env_step": 100_000,
    "env": {
        "env_id": "MountainCarContinuous-v0",
        "collector_env_num": 8,
        "evaluator_env_num": 4,
    },
    "policy": {
        "model": {
            "latent_dim": 64,
            "hidden_dim": 128,
            "support_size": 30,  # the +100 goal reward, discounted
            "reward_support_size": 15,
            "lstm_hidden_size": 64,
            "sigma_type": "fixed",  # keep exploring until the flag has been reached
            "fixed_sigma_value": 1.0,
        },
        "num_simulations": 25,
        "num_of_sampled_actions": 10,
        "discount_factor": 0.99,
        "td_steps": 5,
        "game_segment_length": 50,
        "collect_env_steps": 25,  # 8 envs x 25 steps = 200 transitions per collect
        "fixed_temperature_value": 0.25,  # collect: visit counts sharpened (LightZero's value)
        "replay_ratio": 0.25,
        "batch_size": 256,
        "learning_rate": 3e-3,
        "value_loss_weight": 0.5,
        "eval_freq": 500,
        "n_evaluator_episode": 4,
        "stop_value": 90.0,
        "new_data_priority": "value_error",
    },
}


def build_model(envs: BatchEnv, model_cfg: Mapping[str, Any]) -> SampledEfficientZeroMLP:
    """A model for ``envs``: a Gaussian policy over ``[-1, 1]^D`` for a Box action space,
    a categorical one over ``A`` actions otherwise."""
    size = envs.action_dim if envs.continuous else envs.action_space_size
    return SampledEfficientZeroMLP(
        envs.observation_shape, size, continuous_action_space=envs.continuous, **model_cfg
    )


def main(argv: list[str] | None = None, settings: Mapping[str, Any] = MOUNTAINCAR) -> TrainContext:
    parser = recipe_parser(__doc__)
    args = parser.parse_args(argv)
    cfg = build_config(sampled_efficientzero_config, settings, args, parser)
    seed_everything(cfg.seed)
    torch.set_num_threads(1)

    collect_envs = BatchEnv.make(cfg.env.env_id, cfg.env.collector_env_num, seed=cfg.seed)
    eval_envs = BatchEnv.make(cfg.env.env_id, cfg.env.evaluator_env_num, seed=cfg.seed + 10_000)
    p = cfg.policy
    policy = SampledEfficientZeroPolicy(p, build_model(collect_envs, p.model), seed=cfg.seed)
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
    task.use(progress_bar(cfg.max_env_step))
    task.use(termination(max_env_step=cfg.max_env_step))

    start, history = time.perf_counter(), []
    task.on(Event.EVAL_DONE, lambda c, r: history.append(r | {"unix_time": time.time()}))
    ctx = task.run(mode=args.mode)
    print(
        result_line(
            ctx,
            algorithm="sampled_efficientzero",
            env_id=cfg.env.env_id,
            seed=cfg.seed,
            start=start,
            eval_history=history,
        )
    )
    return ctx


if __name__ == "__main__":
    main()
