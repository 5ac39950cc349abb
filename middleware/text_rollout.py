"""text_rollout: collect reasoning trajectories from the step-level math environments."""

from __future__ import annotations

import logging

from pipezero.framework import Event, Middleware, Task, middleware
from pipezero.policy.llm.context import LLMContext
from pipezero.policy.llm.rollout import RolloutWorker

__all__ = ["text_rollout"]

logger = logging.getLogger(__name__)


def text_rollout(worker: RolloutWorker) -> Middleware:
    """Run one collection of ``worker`` per step (whole episodes, or ``rollout_steps`` steps
    per environment with auto-reset; see :class:`~pipezero.policy.llm.rollout.RolloutWorker`).

    Writes ``ctx.rollout``, adds the reasoning lines generated to ``ctx.env_step`` and the
    episodes finished to ``ctx.env_episode``, then emits ``Event.NEW_DATA`` with
    ``(ctx, rollout)``. The worker's policy is the learner's (the chain is on-policy and
    runs in sync mode).

    Args:
        worker: the policy, environments and collection mode.
    """
    if not isinstance(worker, RolloutWorker):
        raise TypeError(f"text_rollout needs a RolloutWorker, got {type(worker).__name__}")
    refs: dict[str, Task] = {}

    def collect(ctx: LLMContext) -> None:
        rollout = worker.collect()
        ctx.rollout = rollout
        ctx.env_step += rollout.num_steps
        ctx.env_episode += len(rollout.finished)
        logger.debug(
            "collected %d lines, %d finished episodes", rollout.num_steps, len(rollout.finished)
        )
        if "task" in refs:
            refs["task"].emit(Event.NEW_DATA, ctx, rollout)

    return middleware(
        collect,
        name="text_rollout",
        role="collector",
        reads=("env_step", "env_episode"),
        writes=("rollout", "env_step", "env_episode"),
        setup=lambda task: refs.update(task=task),
    )
