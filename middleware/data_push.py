"""data_push: move the segments collected this step into the replay buffer."""

from __future__ import annotations

import logging

from pipezero.data.replay_buffer import ReplayBuffer
from pipezero.framework import Middleware, TrainContext, middleware

__all__ = ["data_push"]

logger = logging.getLogger(__name__)


def data_push(buffer: ReplayBuffer) -> Middleware:
    """Push every segment of ``ctx.new_segments`` into ``buffer``, oldest first.

    New transitions get the buffer's default priority (the largest seen so far); the buffer
    evicts its oldest segments when it exceeds its capacity. ``ctx.new_segments`` is left as
    it is, so later middleware (``calc_update_count``) still see this step's data.

    Args:
        buffer: the replay buffer the learner samples from.
    """
    if not isinstance(buffer, ReplayBuffer):
        raise TypeError(f"data_push needs a ReplayBuffer, got {type(buffer).__name__}")

    def push(ctx: TrainContext) -> None:
        for segment in ctx.new_segments:
            buffer.push(segment)
        if ctx.new_segments:
            logger.debug(
                "pushed %d segments; buffer holds %d transitions",
                len(ctx.new_segments),
                buffer.num_transitions,
            )

    return middleware(push, name="data_push", role="learner", reads=("new_segments",))
