"""Per-step rewards of a rollout: process rewards (a PRM) plus an outcome reward."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipezero.policy.llm.prm import ProcessRewardModel
from pipezero.policy.llm.rollout import Rollout

__all__ = ["PROCESS_CREDITS", "RewardConfig", "StepRewards", "min_form", "score_rollout"]

#: ``RewardConfig.process_credit`` values.
PROCESS_CREDITS = ("sum", "min")


@dataclass(frozen=True)
class RewardConfig:
    """How step rewards are made: ``r_t = process_weight * (prm_t - process_offset)``, plus
    ``outcome_weight`` on the last step of an episode whose final answer is correct.

    Attributes:
        process_weight: weight of the PRM score (0 switches process rewards off).
        process_offset: subtracted from every PRM score (0.5 centres them; the reference uses 0).
        outcome_weight: reward of a correct final answer (0 switches outcome rewards off).
        process_credit: ``"sum"`` (each step keeps its process reward: the process return from
            a step is the sum of the rewards after it) or ``"min"`` (the rewards are rewritten
            so that the process return from a step is the *smallest* process reward from it
            on, :func:`min_form`: a sequence of steps is worth its worst one, so steps a PRM
            over-scores cannot add up).
    """

    process_weight: float = 1.0
    process_offset: float = 0.0
    outcome_weight: float = 1.0
    process_credit: str = "sum"

    def __post_init__(self) -> None:
        if self.process_credit not in PROCESS_CREDITS:
            choices = list(PROCESS_CREDITS)
            raise ValueError(
                f"process_credit must be one of {choices}, got {self.process_credit!r}"
            )


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


def min_form(rewards: np.ndarray) -> np.ndarray:
    """Rewards whose sums from each step on are the minima of ``rewards`` from that step on:
    ``r*_t = m_t - m_{t+1}`` with ``m_t = min_{t' >= t} r_t'`` and ``m_S = 0`` (the sums
    telescope to ``m_t``)."""
    if len(rewards) == 0:
        return rewards.copy()
    suffix_min = np.minimum.accumulate(rewards[::-1])[::-1]
    return suffix_min - np.append(suffix_min[1:], 0.0).astype(rewards.dtype)


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
        if config.process_credit == "min":
            r = min_form(r)
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
