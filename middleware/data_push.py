"""data_push: move the segments collected this step into the replay buffer."""

from __future__ import annotations

import logging

import numpy as np

from pipezero.data.game_segment import GameSegment
from pipezero.data.replay_buffer import ReplayBuffer
from pipezero.framework import Middleware, TrainContext, middleware

__all__ = ["data_push"]

logger = logging.getLogger(__name__)


def _initial_priorities(segment: GameSegment, priority_eps: float) -> np.ndarray | None:
    """``[T]`` priorities ``|pred_value - root_value| + priority_eps`` of the real transitions,
    or ``None`` (the buffer's maximum priority) when the segment lacks predicted values."""
    t = segment.length
    pred = segment.pred_values[:t].astype(np.float64)
    if np.isnan(pred).any():
        return None
    return np.abs(pred - segment.root_values[:t]) + priority_eps


NEW_DATA_PRIORITIES = ("value_error", "max")


def data_push(
    buffer: ReplayBuffer, priority_eps: float = 1e-6, new_data_priority: str = "value_error"
) -> Middleware:
    """Push every segment of ``ctx.new_segments`` into ``buffer``, oldest first.

    With ``new_data_priority="value_error"`` a transition's initial priority is
    ``|pred_value - root_value| + priority_eps``: how far the network's value at the root was
    from the search value (the MuZero rule). With ``"max"``, and for segments without
    predicted values (NaN, e.g. written by a collector that does not give them), new data gets
    the buffer's largest priority seen so far, so it is sampled soon. The buffer evicts its
    oldest segments when it
    exceeds its capacity. ``ctx.new_segments`` is left as it is, so later middleware
    (``calc_update_count``) still see this step's data.

    Args:
        buffer: the replay buffer the learner samples from.
        priority_eps: added to every priority so no transition has zero probability (the
            policy config's ``priority_eps``).
        new_data_priority: ``"value_error"`` or ``"max"``, as above.
    """
    if not isinstance(buffer, ReplayBuffer):
        raise TypeError(f"data_push needs a ReplayBuffer, got {type(buffer).__name__}")
    if isinstance(priority_eps, bool) or not isinstance(priority_eps, int | float):
        raise TypeError(f"data_push: priority_eps must be a float, got {priority_eps!r}")
    if not priority_eps > 0:
        raise ValueError(f"data_push: priority_eps must be > 0, got {priority_eps!r}")
    if new_data_priority not in NEW_DATA_PRIORITIES:
        raise ValueError(
            f"data_push: new_data_priority must be one of {NEW_DATA_PRIORITIES}, "
            f"got {new_data_priority!r}"
        )
    eps = float(priority_eps)
    use_value_error = new_data_priority == "value_error"

    def push(ctx: TrainContext) -> None:
        for segment in ctx.new_segments:
            priorities = _initial_priorities(segment, eps) if use_value_error else None
            buffer.push(segment, priorities)
        if ctx.new_segments:
            logger.debug(
                "pushed %d segments; buffer holds %d transitions",
                len(ctx.new_segments),
                buffer.num_transitions,
            )

    return middleware(push, name="data_push", role="learner", reads=("new_segments",))
