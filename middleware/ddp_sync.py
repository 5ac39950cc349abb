"""ddp_sync: keep several learner processes (torchrun, torch.distributed) in lockstep."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from pipezero.data import ReplayBuffer
from pipezero.distributed import (
    GradientAverager,
    all_gather_object,
    barrier,
    broadcast_module,
    collective_device,
    get_rank,
    get_world_size,
    init_distributed,
)
from pipezero.framework import Event, Middleware, Task, TrainContext, middleware
from pipezero.policy.base import PolicyProtocol

__all__ = ["ddp_sync"]

logger = logging.getLogger(__name__)

_MODEL_ATTRS = ("model", "target_model", "acting_model")


class _DDPSync:
    """State of one ``ddp_sync``: the task, the gradient hooks, the counters last agreed."""

    def __init__(self, cfg: Mapping[str, Any], policy: PolicyProtocol, buffer: ReplayBuffer):
        min_transitions = cfg["min_buffer_transitions"]
        if isinstance(min_transitions, bool) or not isinstance(min_transitions, int):
            raise ValueError(
                f"ddp_sync: cfg.min_buffer_transitions must be an int, got {min_transitions!r}"
            )
        model = getattr(policy, "model", None)
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"ddp_sync averages the gradients of policy.model, but "
                f"{type(policy).__name__}.model is {type(model).__name__}; give the policy "
                f"its trained torch module as .model"
            )
        # offpolicy_learn's warm-up rule: every rank must agree on the same threshold.
        self.min_transitions = max(min_transitions, int(cfg.get("batch_size", 1) or 1))
        self.policy = policy
        self.buffer = buffer
        self.task: Task | None = None
        self.averager: GradientAverager | None = None
        self.synced: tuple[int, int] = (0, 0)  # env_step, env_episode agreed by every rank

    def setup(self, task: Task) -> None:
        init_distributed()
        self.task = task
        modules = [getattr(self.policy, a, None) for a in _MODEL_ATTRS]
        broadcast_module([m for m in modules if isinstance(m, nn.Module)], src=0)
        self.averager = GradientAverager(self.policy.model)  # type: ignore[attr-defined]
        self.synced = (task.ctx.env_step, task.ctx.env_episode)
        task.on(Event.FINISH, self.on_finish)
        barrier()
        logger.info("ddp_sync: rank %d of %d in step", get_rank(), get_world_size())

    def step(self, ctx: TrainContext) -> Iterator[None]:
        world = get_world_size()
        if world > 1:
            self._agree_on_step(ctx, world)
        yield
        if world > 1:
            self._agree_on_finish()

    def _agree_on_step(self, ctx: TrainContext, world: int) -> None:
        """One all-gather: every rank does the same number of updates, and the counters
        become totals over the ranks."""
        ready = int(self.buffer.num_transitions >= self.min_transitions)
        step0, episode0 = self.synced
        row = [ctx.update_count, ready, ctx.env_step - step0, ctx.env_episode - episode0]
        local = torch.tensor(row, dtype=torch.int64, device=collective_device())
        table = [torch.empty_like(local) for _ in range(world)]
        dist.all_gather(table, local)
        rows = torch.stack(table).cpu()
        counts, ready_all = rows[:, 0], bool(rows[:, 1].all())
        if int(counts.min()) != int(counts.max()):
            logger.warning(
                "ddp_sync: ranks computed different update counts %s; every rank does the "
                "smallest. Pass reduce_sum=all_reduce_sum to calc_update_count",
                counts.tolist(),
            )
        ctx.update_count = int(counts.min()) if ready_all else 0
        ctx.env_step = step0 + int(rows[:, 2].sum())
        ctx.env_episode = episode0 + int(rows[:, 3].sum())
        self.synced = (ctx.env_step, ctx.env_episode)

    def _agree_on_finish(self) -> None:
        """After the whole step: if any rank asked to finish, every rank finishes."""
        assert self.task is not None
        flag = torch.tensor([int(self.task.finished)], device=collective_device())
        dist.all_reduce(flag, op=dist.ReduceOp.SUM)
        if int(flag.item()) == 0:
            return
        reasons = all_gather_object(self.task.finish_reason)
        rank, reason = next((r, why) for r, why in enumerate(reasons) if why is not None)
        if not self.task.finished:
            self.task.finish(f"rank {rank}: {reason}")

    def on_finish(self, ctx: TrainContext, reason: str) -> None:
        barrier()  # every rank leaves the run together (rank 0 then writes the final checkpoint)


def ddp_sync(cfg: Mapping[str, Any], policy: PolicyProtocol, buffer: ReplayBuffer) -> Middleware:
    """Keep the learner processes of a ``torchrun`` launch in lockstep (``--ddp``).

    Place it after ``calc_update_count`` and before ``offpolicy_learn``. When added to a task
    it starts the process group from torchrun's environment if none runs yet
    (:func:`~pipezero.distributed.init_distributed`; gloo on CPU, NCCL on CUDA), copies rank
    0's ``policy.model``/``target_model``/``acting_model`` to every rank and hooks gradient
    averaging into ``policy.model`` (:class:`~pipezero.distributed.GradientAverager`): every
    backward pass returns the mean gradient over the ranks, before the policy clips and steps,
    so the ranks' parameters stay identical. Each rank collects with its own environments,
    seeds and replay buffer.

    Each step, one all-gather:

    - ``ctx.update_count`` becomes the smallest over the ranks, or 0 until every rank's buffer
      holds ``max(cfg.min_buffer_transitions, cfg.batch_size)`` transitions, offpolicy_learn's
      warm-up (a rank that trained alone would wait
      forever for the others' gradients);
    - ``ctx.env_step`` and ``ctx.env_episode`` become totals over the ranks (so
      ``termination(max_env_step=...)`` and the progress bar count every rank's steps).

    After the whole step one all-reduce tells every rank whether any rank called
    ``task.finish``; then every rank finishes (reason ``"rank R: <reason>"``), and on
    ``Event.FINISH`` the ranks meet at a barrier. A finish asked for in the code after the
    ``yield`` of a middleware placed *before* ``ddp_sync`` would be seen by that rank alone:
    keep such middleware (``termination``, ``time_limit``) after it.

    Evaluation, logging and checkpoints belong to rank 0: wrap those middleware in
    :func:`~pipezero.distributed.rank0_only`. Sync mode only (counters written by the
    learner role would clash with the collector's in async mode). Without a process group
    (or with one rank) the step does nothing.

    Args:
        cfg: the policy section: ``min_buffer_transitions`` (as given to offpolicy_learn).
        policy: the learner's policy; its ``model`` is the module trained by ``learn``.
        buffer: this rank's replay buffer.
    """
    sync = _DDPSync(cfg, policy, buffer)
    return middleware(
        sync.step,
        name="ddp_sync",
        role="learner",
        reads=("update_count", "env_step", "env_episode"),
        writes=("update_count", "env_step", "env_episode"),
        setup=sync.setup,
    )
