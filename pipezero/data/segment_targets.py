"""Refresh the search targets stored in finished game segments (buffer reanalysis).

A finished :class:`~pipezero.data.game_segment.GameSegment` is read-only. Reanalysis (ReZero's
whole-buffer reanalysis, UniZero's periodic reanalysis) searches its positions again with a
newer network and replaces the stored visit distributions and root values with
:func:`write_search_targets`: the arrays are swapped for new read-only arrays, so a batch
sampled before the write keeps the values it copied.

:func:`live_segments` lists the buffer's segments with their ids, oldest first, which is how a
reanalysis pass walks the buffer.
"""

from __future__ import annotations

import numpy as np

from pipezero.data.game_segment import GameSegment
from pipezero.data.replay_buffer import ReplayBuffer


def num_search_positions(segment: GameSegment) -> int:
    """Positions of ``segment`` that hold a transition (real + padding): the positions a
    reanalysis searches. The final observation of an episode holds none."""
    return segment.length + segment.num_padding


def write_search_targets(
    segment: GameSegment, child_visits: np.ndarray, root_values: np.ndarray
) -> None:
    """Replace the search targets of positions ``0 .. T-1`` of a finished segment.

    Args:
        segment: a finished segment (usually one stored in a replay buffer).
        child_visits: ``[T, A]`` new root visit distributions (each row is normalised here).
        root_values: ``[T]`` new searched root values.

    ``T`` must be :func:`num_search_positions` of the segment (every position that holds a
    transition, padding included); the final observation's row is left as it was.

    Raises:
        ValueError: wrong shapes, or a row of ``child_visits`` without a positive sum.
    """
    t = num_search_positions(segment)
    a = segment.action_space_size
    visits = np.asarray(child_visits, dtype=np.float32)
    values = np.asarray(root_values, dtype=np.float32)
    if visits.shape != (t, a) or values.shape != (t,):
        raise ValueError(
            f"write_search_targets: the segment has {t} searched positions and {a} actions, "
            f"so child_visits must be [{t}, {a}] and root_values [{t}]; got "
            f"{list(visits.shape)} and {list(values.shape)}"
        )
    totals = visits.sum(axis=1, keepdims=True)
    if not (totals > 0).all():
        bad = np.flatnonzero(~(totals[:, 0] > 0))[:5]
        raise ValueError(
            f"write_search_targets: child_visits rows {bad.tolist()} do not have a positive "
            "sum; give visit counts or distributions of a search"
        )
    new_visits = np.array(segment.child_visits, copy=True)
    new_visits[:t] = visits / totals
    new_values = np.array(segment.root_values, copy=True)
    new_values[:t] = values
    for name, arr in (("child_visits", new_visits), ("root_values", new_values)):
        arr.flags.writeable = False
        setattr(segment, name, arr)


def live_segments(buffer: ReplayBuffer) -> list[tuple[int, GameSegment]]:
    """``(segment_id, segment)`` of every segment in ``buffer``, oldest first (ids increase)."""
    return [(sid, seg) for sid, (seg, _) in buffer._segments.items()]
