"""onpolicy_learn: one APPO / GRPO / TPPO update on the trajectories collected this step."""

from __future__ import annotations

import logging

from pipezero.framework import Event, Middleware, Task, middleware
from pipezero.policy.llm.context import LLMContext
from pipezero.policy.llm.trainer import OnPolicyTrainer

__all__ = ["onpolicy_learn"]

logger = logging.getLogger(__name__)


def onpolicy_learn(trainer: OnPolicyTrainer) -> Middleware:
    """Update the policy (and critic) on ``ctx.rollout`` with ``ctx.step_rewards``.

    Swapping the algorithm is swapping ``trainer``
    (:class:`~pipezero.policy.llm.trainers.APPOTrainer`, ``GRPOTrainer`` or ``TPPOTrainer``).
    Adds the minibatch updates to ``ctx.train_iter``, writes ``ctx.train_output`` (the
    trainer's statistics, and the collection's under ``"collect"``) and emits
    ``Event.POLICY_UPDATED`` with ``(ctx, train_iter)``.

    Args:
        trainer: the on-policy trainer.
    """
    if not isinstance(trainer, OnPolicyTrainer):
        raise TypeError(f"onpolicy_learn needs an OnPolicyTrainer, got {type(trainer).__name__}")
    refs: dict[str, Task] = {}

    def learn(ctx: LLMContext) -> None:
        stats = trainer.learn(ctx.rollout, ctx.step_rewards)
        ctx.train_iter += int(stats["updates"])
        ctx.train_output = {**stats, "collect": dict(ctx.step_rewards.stats)}
        logger.debug("%s update: %s", trainer.name, stats)
        if "task" in refs:
            refs["task"].emit(Event.POLICY_UPDATED, ctx, ctx.train_iter)

    return middleware(
        learn,
        name="onpolicy_learn",
        role="learner",
        reads=("rollout", "step_rewards", "train_iter"),
        writes=("train_output", "train_iter"),
        setup=lambda task: refs.update(task=task),
    )
