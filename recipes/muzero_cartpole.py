"""MuZero on CartPole-v0 (200-step episodes): 8 collector environments, 25 simulations.

    pipezero train muzero_cartpole --seed 0            # or: python recipes/muzero_cartpole.py
    pipezero train muzero_cartpole --set policy.num_simulations=50 --mode async
    pipezero train muzero_cartpole --resume latest
    torchrun --nproc_per_node=2 recipes/muzero_cartpole.py --ddp    # 2 learner processes
    pipezero train muzero_cartpole --ray-actors 2                   # 2 Ray self-play actors
    pipezero eval runs/muzero_cartpole/RUN --episodes 32

Stops at a 32-episode mean of ``policy.stop_value`` (195) or at ``max_env_step``; with its
own consistency loss (``ssl_loss_weight``) 16 of 16 seeds reach 195 and 15 hold it on 32 fresh
episodes (docs/performance.md). Over 60 lines as the chain of the other MuZero-family CartPole,
2048, Sampled EfficientZero and MinAtar recipes (``--ddp``; ``--ray-actors`` tested here).
"""

from __future__ import annotations

from functools import partial

from pipezero.middleware.buffer_reanalyze import ReanalyzeContext, buffer_reanalyze
from pipezero.middleware.calc_update_count import calc_update_count
from pipezero.middleware.ckpt_saver import ckpt_saver
from pipezero.middleware.data_push import data_push
from pipezero.middleware.ddp_sync import ddp_sync
from pipezero.middleware.env_collect import env_collect
from pipezero.middleware.interval_eval import interval_eval
from pipezero.middleware.offpolicy_learn import offpolicy_learn
from pipezero.middleware.ray_collect import ray_collect
from pipezero.middleware.termination import termination

from pipezero.distributed import all_reduce_sum, rank0_only
from pipezero.envs import BatchEnv
from pipezero.framework import Task, TrainContext
from pipezero.model import MuZeroMLP
from pipezero.policy import MuZeroPolicy, muzero_config
from pipezero.policy.muzero_build import build_muzero
from pipezero.recipe import Run, main

SCALE_OUT = True
#: ``SCALE_OUT`` of the recipes reusing :func:`build` (``--ray-actors`` is tested here only).
DDP = ("ddp",)
#: The settings of every MuZero-family CartPole recipe (their own come on top).
CARTPOLE = {
    "max_env_step": 20_000,
    "env.env_id": "CartPole-v0",
    "policy.td_steps": 10,  # 10-step returns carry the value faster through 200-step episodes
    "policy.replay_ratio": 0.5,  # updates per collected transition
    "policy.value_loss_weight": 0.5,
    "policy.eval_freq": 50,
    "policy.stop_value": 195.0,
}
EVAL_32 = {"env.evaluator_env_num": 32, "policy.n_evaluator_episode": 32}
CONFIG = muzero_config(CARTPOLE | EVAL_32 | {"policy.ssl_loss_weight": 2.0})
#: The consistency loss's heads at EfficientZero's sizes: with MuZeroMLP's 256-wide default the
#: median seed took 1.8x the seconds to 195 (docs/performance.md).
CONFIG.policy.model.update(projection_hidden_dim=128, projection_dim=128, prediction_hidden_dim=64)


def build(run: Run, policy_class=MuZeroPolicy, model_class=MuZeroMLP, save_buffer=True) -> Task:
    """The chain; ``buffer_reanalyze`` too where ``buffer_reanalyze_freq`` > 0 (ReZero, UniZero)."""
    cfg, p = run.cfg, run.cfg.policy
    env_options = {k: v for k, v in cfg.env.items() if k != "env_id" and "_env_num" not in k}
    collect_envs, eval_envs = run.envs(**env_options)  # MinAtar: sticky actions, ...
    policy, buffer = build_muzero(cfg, collect_envs, policy_class, model_class, device=run.device)
    reanalyze = "buffer_reanalyze_freq" in p  # ReZero, UniZero: its counters in the context
    task = run.task(ReanalyzeContext() if reanalyze else TrainContext(), policy, buffer)
    task.use(rank0_only(interval_eval(p, run.acting(policy, "evaluator"), eval_envs)))
    if run.ray_actors:
        make = partial(BatchEnv.make, cfg.env.env_id, cfg.env.collector_env_num, **env_options)
        n = run.ray_actors
        task.use(ray_collect(p, policy, make, collector=env_collect, num_actors=n, seed=cfg.seed))
    else:
        task.use(env_collect(p, run.acting(policy), collect_envs))
    task.use(data_push(buffer, p.priority_eps, p.new_data_priority))
    if reanalyze and (p.buffer_reanalyze_freq or 0) > 0:
        task.use(buffer_reanalyze(p, policy, buffer))
    task.use(calc_update_count(p, reduce_sum=all_reduce_sum))
    if run.ddp:
        task.use(ddp_sync(p, policy, buffer))
    task.use(offpolicy_learn(p, policy, buffer))
    task.use(
        rank0_only(ckpt_saver(run.exp_dir, policy, buffer, save_buffer=save_buffer, config=cfg))
    )
    task.use(termination(max_env_step=cfg.max_env_step))
    return task


if __name__ == "__main__":
    main(__file__)
