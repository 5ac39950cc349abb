"""The context of the LLM reasoning chain."""

from __future__ import annotations

import dataclasses
from typing import Any

from pipezero.framework import TrainContext, per_step, persistent

__all__ = ["LLMContext"]


@dataclasses.dataclass(kw_only=True)
class LLMContext(TrainContext):
    """:class:`~pipezero.framework.TrainContext` plus the fields of the LLM chain.

    ``env_step`` counts reasoning lines generated for training, ``env_episode`` finished
    training episodes, ``train_iter`` minibatch updates of the on-policy learner,
    ``best_eval_return`` the best held-out accuracy and ``collect_episode_returns`` the
    undiscounted returns of the episodes finished this step (logged by ``tb_logger``).

    Persistent:
        sft_iter: supervised warm-start steps done.

    Per step:
        rollout: the :class:`~pipezero.policy.llm.rollout.Rollout` collected this step.
        step_rewards: its :class:`~pipezero.policy.llm.rewards.StepRewards`.
        sft_output: statistics of the warm start when it ran this step.
        prm_output: statistics of the learned PRM's warm-up when it ran this step.
        prm_refresh_output: statistics of its training on this step's collection.
    """

    sft_iter: int = persistent(0)

    rollout: Any = per_step(None)
    step_rewards: Any = per_step(None)
    sft_output: Any = per_step(None)
    prm_output: Any = per_step(None)
    prm_refresh_output: Any = per_step(None)
