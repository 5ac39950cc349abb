"""Code run inside the spawned ranks of the ddp tests (importable by the children)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pipezero.middleware import calc_update_count, data_push, env_collect, offpolicy_learn
from pipezero.middleware.ddp_sync import ddp_sync
from policy_toy import tiny_policy

from pipezero.data import Batch, ReplayBuffer
from pipezero.distributed import all_reduce_sum, init_distributed, rank0_only, shutdown_distributed
from pipezero.envs import BatchEnv
from pipezero.framework import Task, TrainContext, middleware

#: Policy settings of the fixed-batch check: clipping is active (0.05), so the test also
#: shows that gradients are averaged *before* the norm is clipped.
LEARN_CFG: dict[str, Any] = {"grad_clip_value": 0.05, "reanalyze_ratio": 0.0}
MODEL_SEED = 100
STOP_AT_STEP = 5  # rank 1 finishes the pipeline run after this task step


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def concat_batches(a: Batch[np.ndarray], b: Batch[np.ndarray]) -> Batch[np.ndarray]:
    """One batch of the rows of ``a`` then ``b`` (bootstrap indices shifted for ``b``)."""
    rows_a, width = a.obs.shape[0], a.unroll_mask.shape[1]
    both = {name: np.concatenate([x, getattr(b, name)]) for name, x in a.arrays().items()}
    both["bootstrap_index"] = np.concatenate(
        [a.bootstrap_index, b.bootstrap_index + rows_a * width]
    )
    return Batch(**both)


def fresh_policy(seed: int, kind: str = "muzero") -> Any:
    torch.manual_seed(MODEL_SEED + seed)  # every rank starts from a different initialisation
    return tiny_policy(kind, seed=seed, **LEARN_CFG)


def params_of(policy: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in policy.model.state_dict().items()}


def run_rank(rank: int, world: int, port: int, batches: list[list[Batch]], out: str) -> None:
    """Fixed-batch updates, then a short pipeline run; results go to ``out/rank{rank}.pt``."""
    torch.set_num_threads(1)
    env = {
        "RANK": str(rank),
        "WORLD_SIZE": str(world),
        "LOCAL_RANK": str(rank),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
    }
    init_distributed("gloo", timeout_s=60, env=env)
    try:
        result = {
            "fixed": _fixed_batches(rank, batches, "muzero"),
            "fixed_efficientzero": _fixed_batches(rank, batches, "efficientzero"),
            **_pipeline(rank),
        }
        torch.save(result, Path(out) / f"rank{rank}.pt")
    finally:
        shutdown_distributed()


def _fixed_batches(rank: int, batches: list[list[Batch]], kind: str) -> dict[str, torch.Tensor]:
    policy = fresh_policy(seed=rank, kind=kind)
    Task(TrainContext()).use(ddp_sync(policy.cfg, policy, ReplayBuffer(100, 3, 3)))
    for per_rank in batches:
        result = policy.learn(per_rank[rank])
        assert not result.skipped, result.info
    return params_of(policy)


def _pipeline(rank: int) -> dict[str, Any]:
    """env_collect -> data_push -> calc_update_count -> ddp_sync -> offpolicy_learn; rank 1
    finishes after step STOP_AT_STEP; a rank0_only middleware counts its calls."""
    policy = fresh_policy(seed=10 + rank)
    c = policy.cfg
    buffer = ReplayBuffer(1000, c.num_unroll_steps, c.td_steps, c.discount_factor, seed=rank)
    envs = BatchEnv.make("CartPole-v1", 2, seed=1000 * rank)
    calls = {"rank0_only": 0}

    def count(ctx: TrainContext) -> None:
        calls["rank0_only"] += 1

    def stop(ctx: TrainContext) -> None:
        if rank == 1 and ctx.task_step == STOP_AT_STEP:
            task.finish("stopper")

    task = Task(TrainContext())
    task.use(rank0_only(middleware(count, name="count")))
    task.use(env_collect(c, policy, envs))
    task.use(data_push(buffer, c.priority_eps, "max"))
    task.use(calc_update_count(c, reduce_sum=all_reduce_sum))
    task.use(ddp_sync(dict(c, min_buffer_transitions=24), policy, buffer))
    task.use(offpolicy_learn(dict(c, min_buffer_transitions=1), policy, buffer))
    task.use(stop)
    ctx = task.run(max_steps=50)
    return {
        "pipeline": params_of(policy),
        "env_step": ctx.env_step,
        "env_episode": ctx.env_episode,
        "train_iter": ctx.train_iter,
        "task_step": ctx.task_step,
        "finish_reason": ctx.finish_reason,
        "buffer_transitions": buffer.num_transitions,
        "rank0_only_calls": calls["rank0_only"],
    }
