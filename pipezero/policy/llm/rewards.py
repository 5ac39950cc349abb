"""Per-step rewards of a rollout: process rewards (a PRM) plus an outcome reward."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipezero.policy.llm.prm import ProcessRewardModel
from pipezero.policy.llm.rollout import Rollout

__all__ = ["RewardConfig", "StepRewards", "score_rollout"]


@dataclass(frozen=True)
class RewardConfig:
    """How step rewards are made: ``r_t = process_weight * (prm_t - process_offset)``, plus
    ``outcome_weight`` on the last step of an episode whose final answer is correct.

    Attributes:
        process_weight: weight of the PRM score (0 switches process rewards off).
        process_offset: subtracted from every PRM score (0.5 centres them; the reference uses 0).
        outcome_weight: reward of a correct final answer (0 switches outcome rewards off).
    """

    process_weight: float = 1.0
    process_offset: float = 0.0
    outcome_weight: float = 1.0


@dataclass
class StepRewards:
    """Rewards aligned with ``rollout.trajectories``.

    Attributes:
        rewards: per trajectory ``[S]`` float32 step rewards.
        process: per trajectory ``[S]`` float32 PRM scores (zeros without a PRM).
        stats: collection statistics for loggers.
    """

    rewards: list[np.ndarray]
    process: list[np.ndarray]
    stats: dict[str, float] = field(default_factory=dict)


def score_rollout(
    rollout: Rollout, prm: ProcessRewardModel | None, config: RewardConfig
) -> StepRewards:
    """Score every step of ``rollout`` (one batched PRM call)."""
    if prm is None and config.process_weight != 0:
        raise ValueError("process_weight is non-zero but no PRM was given; pass one or set it to 0")
    trajs = rollout.trajectories
    states = [s for t in trajs for s in t.states]
    steps = [s for t in trajs for s in t.steps]
    if prm is not None and states:
        flat = np.asarray(prm.score(states, steps), dtype=np.float32)
    else:
        flat = np.zeros(len(states), dtype=np.float32)
    if flat.shape != (len(states),) or not np.all((flat >= 0) & (flat <= 1)):
        raise ValueError(f"the PRM must return {len(states)} scores in [0, 1], got {flat!r}")
    rewards, process = [], []
    start = 0
    for t in trajs:
        p = flat[start : start + t.num_steps]
        start += t.num_steps
        r = config.process_weight * (p - config.process_offset)
        if t.done and t.correct:
            r[-1] += config.outcome_weight
        rewards.append(r.astype(np.float32))
        process.append(p)
    finished = rollout.finished
    stats = {
        "prm_mean": float(flat.mean()) if len(flat) else 0.0,
        "reward_per_step": float(np.mean(np.concatenate(rewards))) if rewards else 0.0,
        "episodes": float(len(finished)),
    }
    if finished:
        stats["train_accuracy"] = float(np.mean([bool(t.correct) for t in finished]))
        stats["answered"] = float(np.mean([t.reason == "answer" for t in finished]))
    return StepRewards(rewards, process, stats)
