"""prm_warmup: train the learned process reward model before RL (``reward.kind=learned_prm``)."""

from __future__ import annotations

import logging

from pipezero.framework import Middleware, Task, middleware
from pipezero.policy.llm.context import LLMContext
from pipezero.policy.llm.prm_training import PRMWarmup

__all__ = ["prm_warmup"]

logger = logging.getLogger(__name__)


def prm_warmup(warmup: PRMWarmup) -> Middleware:
    """At the first step of the run (after the supervised warm start, before anything after
    it in the chain), sample and label the policy's steps and train the learned PRM on them
    (:meth:`PRMWarmup.run`); then do nothing.

    The PRM's trainer is a run-state provider (``"prm_warmup"``): checkpoints hold its model,
    optimizer and step count, so a resumed run scores with the PRM it trained and does not
    train another. Writes ``ctx.prm_output`` (held-out AUC and accuracy before and after,
    losses) in the step it trains.
    """
    if not isinstance(warmup, PRMWarmup):
        raise TypeError(f"prm_warmup needs a PRMWarmup, got {type(warmup).__name__}")

    def setup(task: Task) -> None:
        task.state_providers.register("prm_warmup", warmup.trainer, role="learner")

    def warm(ctx: LLMContext) -> None:
        if warmup.done:
            return
        ctx.prm_output = warmup.run()

    return middleware(
        warm,
        name="prm_warmup",
        role="learner",
        reads=("sft_iter",),
        writes=("prm_output",),
        setup=setup,
    )
