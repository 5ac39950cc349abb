"""prm_refresh: keep the learned process reward model on the policy's steps during RL."""

from __future__ import annotations

from pipezero.framework import Middleware, Task, middleware
from pipezero.policy.llm.context import LLMContext
from pipezero.policy.llm.prm_training import PRMRefresh

__all__ = ["prm_refresh"]


def prm_refresh(refresh: PRMRefresh) -> Middleware:
    """After the collection is scored, label some of its episodes, add them to the learned
    PRM's buffer of labelled steps and train the PRM a few steps on it
    (:meth:`PRMRefresh.update`): the next collection is scored by the updated PRM.

    Place it after ``reward_scoring`` (it compares that step's scores with the new labels).
    The buffer and counters are a run-state provider (``"prm_refresh"``); the PRM and its
    optimizer are saved by ``prm_warmup``'s provider. Writes ``ctx.prm_refresh_output``
    (``labelled``, ``labels_total``, ``buffer``, ``loss``, ``onpolicy_auc``,
    ``onpolicy_accuracy``) and adds them to the collection's statistics
    (``ctx.step_rewards.stats``, as ``prm_refresh_<name>``), which the learner passes on to
    the loggers.
    """
    if not isinstance(refresh, PRMRefresh):
        raise TypeError(f"prm_refresh needs a PRMRefresh, got {type(refresh).__name__}")

    def setup(task: Task) -> None:
        task.state_providers.register("prm_refresh", refresh, role="learner")

    def update(ctx: LLMContext) -> None:
        scored = ctx.step_rewards
        out = refresh.update(ctx.rollout, scored.process if scored is not None else None)
        ctx.prm_refresh_output = out
        if scored is not None:
            scored.stats.update({f"prm_refresh_{k}": v for k, v in out.items()})

    return middleware(
        update,
        name="prm_refresh",
        role="learner",
        reads=("rollout", "step_rewards"),
        writes=("prm_refresh_output",),
        setup=setup,
    )
