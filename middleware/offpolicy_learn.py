"""offpolicy_learn: sample the replay buffer, update the policy, refresh priorities."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from pipezero.data import ReplayBuffer
from pipezero.framework import Event, Middleware, Task, TrainContext, middleware
from pipezero.policy.base import PolicyProtocol

__all__ = ["offpolicy_learn"]

logger = logging.getLogger(__name__)


def _int_option(cfg: Mapping[str, Any], key: str, low: int) -> int:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"offpolicy_learn: cfg.{key} must be an int >= {low}, got {value!r}")
    return value


class _Learner:
    """State of one ``offpolicy_learn``: the task and the run of non-finite losses."""

    def __init__(
        self, cfg: Mapping[str, Any], policy: PolicyProtocol, buffer: ReplayBuffer
    ) -> None:
        self.batch_size = _int_option(cfg, "batch_size", 1)
        self.max_consecutive_nan = _int_option(cfg, "max_consecutive_nan", 1)
        # Warm-up rule: no update before the buffer holds one batch of distinct transitions.
        self.min_transitions = max(_int_option(cfg, "min_buffer_transitions", 0), self.batch_size)
        if cfg["min_buffer_transitions"] < self.batch_size:
            logger.info(
                "offpolicy_learn: min_buffer_transitions=%d is below batch_size=%d; learning "
                "waits until the buffer holds %d transitions",
                cfg["min_buffer_transitions"],
                self.batch_size,
                self.min_transitions,
            )
        self.warming_up = True
        self.policy = policy
        self.buffer = buffer
        self.with_unroll_obs = bool(getattr(policy, "needs_unroll_obs", False))
        self.consecutive_nan = 0
        self.task: Task | None = None

    def setup(self, task: Task) -> None:
        self.task = task

    def step(self, ctx: TrainContext) -> None:
        if ctx.update_count <= 0 or not self._warmed_up():
            return
        infos: list[dict[str, float]] = []
        skipped = 0
        for _ in range(ctx.update_count):
            batch = self.buffer.sample(self.batch_size, with_unroll_obs=self.with_unroll_obs)
            result = self.policy.learn(batch)
            if result.skipped:
                skipped += 1
                if self._non_finite(ctx, result.info):
                    break
                continue
            self.consecutive_nan = 0
            if result.priorities is not None:
                self.buffer.update_priorities(batch.indices, result.priorities)
            ctx.train_iter += 1
            infos.append(result.info)
            if self.task is not None:
                self.task.emit(Event.POLICY_UPDATED, ctx, ctx.train_iter)
        if infos:
            ctx.train_output = _mean_info(infos) | {
                "num_updates": float(len(infos)),
                "num_skipped": float(skipped),
                "buffer_transitions": float(self.buffer.num_transitions),
            }
            if self.task is not None:
                self.task.weights.publish(self.policy.get_weights(), ctx.train_iter)

    def _warmed_up(self) -> bool:
        """Whether the buffer holds ``min_transitions``; logs the start of learning once."""
        held = self.buffer.num_transitions
        if not self.warming_up:
            return held >= self.min_transitions
        if held < self.min_transitions:
            return False
        self.warming_up = False
        logger.info(
            "offpolicy_learn: learning starts, the buffer holds %d transitions "
            "(warm-up: max(min_buffer_transitions, batch_size) = %d)",
            held,
            self.min_transitions,
        )
        return True

    def _non_finite(self, ctx: TrainContext, info: Mapping[str, float]) -> bool:
        """Count a skipped update; finish the task after too many in a row (True: stop)."""
        self.consecutive_nan += 1
        logger.warning(
            "offpolicy_learn: non-finite loss at train_iter %d, update skipped (%d in a row): %s",
            ctx.train_iter,
            self.consecutive_nan,
            dict(info),
        )
        if self.consecutive_nan < self.max_consecutive_nan:
            return False
        reason = (
            f"offpolicy_learn: {self.consecutive_nan} consecutive non-finite losses at "
            f"train_iter {ctx.train_iter} (last: {dict(info)}); training diverged. Lower "
            f"learning_rate or grad_clip_value, check the reward scale against the supports, "
            f"or raise max_consecutive_nan"
        )
        logger.error(reason)
        if self.task is None:
            raise RuntimeError(reason)
        self.task.finish(reason)
        return True


def _mean_info(infos: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for info in infos for k in info}
    return {k: float(np.mean([info[k] for info in infos if k in info])) for k in sorted(keys)}


def offpolicy_learn(
    cfg: Mapping[str, Any], policy: PolicyProtocol, buffer: ReplayBuffer
) -> Middleware:
    """Do ``ctx.update_count`` gradient updates on batches sampled from ``buffer``.

    Each update samples ``cfg.batch_size`` positions (with the observations along the unroll
    when ``policy.needs_unroll_obs``), calls ``policy.learn``, writes the returned priorities
    back with ``buffer.update_priorities``, increments ``ctx.train_iter`` and emits
    ``Event.POLICY_UPDATED`` with ``(ctx, train_iter)``. Warm-up: nothing happens while the
    buffer holds fewer than ``max(cfg.min_buffer_transitions, cfg.batch_size)`` transitions,
    so no update samples a batch larger than the data; the start of learning is logged.

    A skipped update (non-finite loss) is logged and not counted. After
    ``cfg.max_consecutive_nan`` skipped updates in a row the task finishes with a message
    saying what to change.

    Writes ``ctx.train_output``: the mean of the policies' ``info`` over this step's updates
    plus ``num_updates``, ``num_skipped`` and ``buffer_transitions``. After the updates the
    new weights are published in ``task.weights`` (version ``train_iter``) for the collector
    and evaluator.

    Args:
        cfg: the policy section: ``batch_size``, ``max_consecutive_nan``,
            ``min_buffer_transitions``.
        policy: learns with ``learn(batch)``.
        buffer: the replay buffer filled by ``data_push``.
    """
    learner = _Learner(cfg, policy, buffer)
    return middleware(
        learner.step,
        name="offpolicy_learn",
        role="learner",
        reads=("update_count", "train_iter"),
        writes=("train_output", "train_iter"),
        setup=learner.setup,
        acts_with=policy,
    )
