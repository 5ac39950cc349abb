"""reward_scoring: per-step rewards of the collected trajectories (process + outcome)."""

from __future__ import annotations

from pipezero.framework import Middleware, middleware
from pipezero.policy.llm.context import LLMContext
from pipezero.policy.llm.prm import ProcessRewardModel
from pipezero.policy.llm.rewards import RewardConfig, score_rollout

__all__ = ["reward_scoring"]


def reward_scoring(
    prm: ProcessRewardModel | None, config: RewardConfig | None = None
) -> Middleware:
    """Score every step of ``ctx.rollout``: ``process_weight * (prm - process_offset)`` per
    step, plus ``outcome_weight`` on the last step of an episode whose final answer is right.

    Writes ``ctx.step_rewards`` (aligned with ``ctx.rollout.trajectories``) and
    ``ctx.collect_episode_returns`` (undiscounted returns of the finished episodes).

    Args:
        prm: the process reward model (``None`` with ``process_weight=0``: outcome only).
        config: the weights (default :class:`~pipezero.policy.llm.rewards.RewardConfig`).
    """
    cfg = config if config is not None else RewardConfig()
    if prm is None and cfg.process_weight != 0:
        raise ValueError(
            f"reward_scoring: process_weight={cfg.process_weight} needs a PRM; pass prm=... or "
            f"RewardConfig(process_weight=0.0) for outcome rewards only"
        )
    if prm is not None and not isinstance(prm, ProcessRewardModel):
        raise TypeError(
            f"reward_scoring: prm must have score(states, steps), got {type(prm).__name__}"
        )

    def score(ctx: LLMContext) -> None:
        rewards = score_rollout(ctx.rollout, prm, cfg)
        ctx.step_rewards = rewards
        ctx.collect_episode_returns = [
            float(r.sum())
            for t, r in zip(ctx.rollout.trajectories, rewards.rewards, strict=True)
            if t.done
        ]

    return middleware(
        score,
        name="reward_scoring",
        role="collector",
        reads=("rollout",),
        writes=("step_rewards", "collect_episode_returns"),
    )
