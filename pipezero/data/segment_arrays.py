"""Many :class:`~pipezero.data.game_segment.GameSegment` as flat arrays for one ``.npz`` file,
and back: the part the replay-buffer files (:mod:`~pipezero.data.buffer_io`) and the trajectory
files (:mod:`~pipezero.data.trajectories`) share.

The arrays: ``seg_rows`` (each segment's row count), ``seg_meta`` (``[N, 7]``: segment length,
unroll steps, td steps, real transitions, padding, episode end, terminated), ``seg_task_ids`` and
every :data:`~pipezero.data.game_segment.ARRAY_FIELDS` array concatenated along the first axis
as ``field_<name>`` (absent when there is no segment).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pipezero.data.game_segment import ARRAY_FIELDS, GameSegment


def pack_segments(segments: Sequence[GameSegment]) -> dict[str, np.ndarray]:
    """The arrays of ``segments`` (see the module doc)."""
    layouts = [
        (s.game_segment_length, s.num_unroll_steps, s.td_steps, s.length, s.num_padding,
         s.episode_end, int(s.terminated))
        for s in segments
    ]  # fmt: skip
    data = {
        "seg_rows": np.array([s.num_positions for s in segments], dtype=np.int64),
        "seg_meta": np.array(layouts, dtype=np.int64).reshape(-1, 7),
        "seg_task_ids": np.array([s.task_id for s in segments], dtype=np.int64),
    }
    if segments:
        for name in ARRAY_FIELDS:
            data[f"field_{name}"] = np.concatenate([getattr(s, name) for s in segments])
    return data


def unpack_segments(arrays: Mapping[str, np.ndarray]) -> list[GameSegment]:
    """The segments of :func:`pack_segments`'s arrays (an open ``np.load`` file works), in
    order. Files written before multi-task runs hold no task ids: their segments are task 0."""
    names = set(getattr(arrays, "files", arrays))
    rows = arrays["seg_rows"]
    offsets = np.concatenate([[0], np.cumsum(rows)])
    fields = {n: arrays[f"field_{n}"] for n in ARRAY_FIELDS if f"field_{n}" in names}
    task_ids = arrays["seg_task_ids"] if "seg_task_ids" in names else np.zeros(len(rows), int)
    segments = []
    for i, layout in enumerate(arrays["seg_meta"].tolist()):
        seg_len, unroll, td, length, padding, end, terminated = layout
        part = {n: a[offsets[i] : offsets[i + 1]] for n, a in fields.items()}
        segments.append(
            GameSegment.from_arrays(
                part, seg_len, unroll, td, length, padding, end, bool(terminated), int(task_ids[i])
            )
        )
    return segments
