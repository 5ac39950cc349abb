"""The run shared by the Sampled EfficientZero recipes (``recipes/sampled_efficientzero_*.py``).

Those recipes differ only in their settings (environment, model sizes, search and training
values), so they keep the settings and their ``--help`` text and call
:func:`train_sampled_efficientzero`, which builds the parts and runs the standard chain
(the recipe prints the ``RESULT`` line it returns)::

    interval_eval -> env_collect -> data_push -> calc_update_count -> offpolicy_learn
    -> ckpt_saver -> tb_logger -> progress_bar -> termination
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch

from pipezero.checkpoint import resume
from pipezero.data import ReplayBuffer
from pipezero.envs import BatchEnv
from pipezero.framework import Event, Task, TrainContext
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
from pipezero.model.sampled_efficientzero import SampledEfficientZeroMLP
from pipezero.policy.sampled_efficientzero import SampledEfficientZeroPolicy
from pipezero.policy.sampled_efficientzero_config import sampled_efficientzero_config
from pipezero.recipe import build_config, recipe_parser, result_line, seed_everything


def build_model(envs: BatchEnv, model_cfg: Mapping[str, Any]) -> SampledEfficientZeroMLP:
    """A model for ``envs``: a Gaussian policy over ``[-1, 1]^D`` for a Box action space,
    a categorical one over ``A`` actions otherwise."""
    size = envs.action_dim if envs.continuous else envs.action_space_size
    return SampledEfficientZeroMLP(
        envs.observation_shape, size, continuous_action_space=envs.continuous, **model_cfg
    )


def train_sampled_efficientzero(
    doc: str | None, settings: Mapping[str, Any], argv: list[str] | None = None
) -> tuple[TrainContext, str]:
    """Train Sampled EfficientZero with a recipe's ``settings`` and command line.

    Args:
        doc: the recipe's docstring; its first line is the ``--help`` description.
        settings: the recipe's config on top of
            :func:`~pipezero.policy.sampled_efficientzero_config.sampled_efficientzero_config`.
        argv: the recipe flags (:func:`~pipezero.recipe.recipe_parser`); ``None``: ``sys.argv``.

    Returns:
        The context after the run, and its ``RESULT {json}`` line (from
        :func:`~pipezero.recipe.result_line`, with the evaluation history, each entry stamped
        with its ``unix_time``) for the recipe to print last; ``benchmarks/sampled.py`` reads it.
    """
    parser = recipe_parser(doc)
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
    summary = result_line(
        ctx,
        algorithm="sampled_efficientzero",
        env_id=cfg.env.env_id,
        seed=cfg.seed,
        start=start,
        eval_history=history,
    )
    return ctx, summary
