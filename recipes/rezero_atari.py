"""ReZero on Atari (Pong by default): conv MuZero, frame-store buffer, backward-view reanalysis.

    pipezero train rezero_atari --device cuda --env-id ALE/Breakout-v5   # default: Pong
    pipezero train rezero_atari --smoke     # every part of the loop in ~10 s on a CPU
    pipezero eval runs/rezero_atari/RUN --episodes 8

Needs ``pipezero[atari]`` (docs/atari.md). Collector episodes end at a lost life, rewards
clipped; evaluation plays whole games. Over 60 lines as the chain and settings unizero_atari reuses.
"""

from __future__ import annotations

import dataclasses

from pipezero.middleware import calc_update_count, ckpt_saver, data_push, ddp_sync, env_collect
from pipezero.middleware.buffer_reanalyze import ReanalyzeContext, buffer_reanalyze
from pipezero.middleware.interval_eval import interval_eval
from pipezero.middleware.offpolicy_learn import offpolicy_learn
from pipezero.middleware.run_stats import StatsContext, run_stats, stats_summary
from pipezero.middleware.termination import termination
from pipezero.recipes.muzero_cartpole import DDP as SCALE_OUT  # noqa: F401

from pipezero.data.frame_store import FrameReplayBuffer
from pipezero.distributed import all_reduce_sum, rank0_only
from pipezero.framework import Task
from pipezero.model import MuZeroConv
from pipezero.policy.muzero_build import build_muzero
from pipezero.policy.rezero import ReZeroPolicy
from pipezero.policy.rezero_config import rezero_atari_config
from pipezero.recipe import Run, main

CONFIG = rezero_atari_config({"save_freq": 10_000})
#: ``--smoke`` on Atari (``unizero_atari``'s too): short episodes, 4 collectors, a tiny network.
ATARI_SMOKE = {
    "env.collector_env_num": 4,
    "env.max_episode_frames": 240,
    "policy.model.num_channels": 8,
    "policy.model.support_size": 10,
    "policy.model.reward_support_size": 5,
    "policy.replay_ratio": 0.05,
    "policy.learning_rate": 1e-3,
    "policy.reanalyze_batch_size": 4,
}
SMOKE = ATARI_SMOKE | {
    "max_env_step": 480,
    "policy.collect_env_steps": 20,
    "policy.optim_type": "Adam",
}


@dataclasses.dataclass
class AtariContext(ReanalyzeContext, StatsContext):
    """The reanalysis counters and the run's statistics."""


def env_options(env: dict) -> dict:
    """``run.envs`` options: ``env``'s; life loss and reward clipping for the collector only."""
    opts = {k: v for k, v in env.items() if k != "env_id" and not k.endswith("_env_num")}
    whole_games = {"episode_life": False, "clip_rewards": False}
    return {"collect_kwargs": opts, "eval_kwargs": opts | whole_games}


def build(run: Run, policy_class=ReZeroPolicy, model_class=MuZeroConv) -> Task:
    cfg, p = run.cfg, run.cfg.policy
    collect_envs, eval_envs = run.envs(**env_options(cfg.env))
    policy, buffer = build_muzero(
        cfg, collect_envs, policy_class, model_class, FrameReplayBuffer, device=run.device
    )
    task = run.task(AtariContext(), policy, buffer)
    buffer.compact()  # a resumed buffer holds whole stacks: keep each frame once again
    task.use(run_stats(buffer))
    task.use(rank0_only(interval_eval(p, run.acting(policy, "evaluator"), eval_envs)))
    task.use(env_collect(p, run.acting(policy), collect_envs))
    task.use(data_push(buffer, p.priority_eps, p.new_data_priority))
    task.use(buffer_reanalyze(p, policy, buffer))
    task.use(calc_update_count(p, reduce_sum=all_reduce_sum))
    if run.ddp:
        task.use(ddp_sync(p, policy, buffer))
    task.use(offpolicy_learn(p, policy, buffer))
    task.use(rank0_only(ckpt_saver(run.exp_dir, policy, buffer, save_buffer=True, config=cfg)))
    task.use(termination(max_env_step=cfg.max_env_step))
    return task


def summary(run: Run, ctx: AtariContext) -> dict:
    return {"env_id": run.cfg.env.env_id, "device": run.device, **stats_summary(ctx)}


if __name__ == "__main__":
    main(__file__)
