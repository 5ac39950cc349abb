"""Game segments in one ``.npz`` file: evaluation trajectories (``pipezero eval
--save-trajectories``) written so a :class:`~pipezero.data.ReplayBuffer` can take them back.

The file holds every segment's arrays (:data:`~pipezero.data.game_segment.ARRAY_FIELDS`)
concatenated along the first axis, ``seg_rows`` (each segment's row count), ``seg_meta``
(segment length, unroll steps, td steps, real transitions, padding, episode end, terminated)
and ``meta``, a JSON string of what the writer adds (recipe, checkpoint, seed, returns).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipezero.data.game_segment import ARRAY_FIELDS, GameSegment

__all__ = ["load_segments", "read_segments_meta", "save_segments"]

#: Written as ``format``; :func:`load_segments` refuses other files.
SEGMENTS_FORMAT = "pipezero-segments-1"


def save_segments(
    segments: Sequence[GameSegment],
    path: str | os.PathLike[str],
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write finished ``segments`` (and ``meta``, JSON-serialisable) to ``path`` (``.npz``).

    Raises:
        ValueError: no segment, or one that is not finished.
    """
    if not segments:
        raise ValueError("save_segments: no segment to save")
    unfinished = [i for i, s in enumerate(segments) if not s.finished]
    if unfinished:
        raise ValueError(f"save_segments: segments {unfinished} are not finished")
    data: dict[str, np.ndarray] = {
        "format": np.array(SEGMENTS_FORMAT),
        "meta": np.array(json.dumps(dict(meta or {}), default=str)),
        "seg_rows": np.array([s.num_positions for s in segments], dtype=np.int64),
        "seg_meta": np.array(
            [
                (
                    s.game_segment_length,
                    s.num_unroll_steps,
                    s.td_steps,
                    s.length,
                    s.num_padding,
                    s.episode_end,
                    int(s.terminated),
                )
                for s in segments
            ],
            dtype=np.int64,
        ),
        "seg_task_ids": np.array([s.task_id for s in segments], dtype=np.int64),
    }
    for name in ARRAY_FIELDS:
        data[f"field_{name}"] = np.concatenate([getattr(s, name) for s in segments])
    path = Path(path)
    with path.open("wb") as f:  # np.savez would append .npz to a str path without it
        np.savez_compressed(f, **data)
    return path


def load_segments(path: str | os.PathLike[str]) -> list[GameSegment]:
    """The segments of a file written by :func:`save_segments`, in their saved order (push
    them with ``buffer.extend(segments)``).

    Raises:
        ValueError: the file is not a segments file of this format.
    """
    with np.load(path, allow_pickle=False) as f:
        if "format" not in f.files or str(f["format"]) != SEGMENTS_FORMAT:
            raise ValueError(f"{path} is not a {SEGMENTS_FORMAT} file (save_segments writes one)")
        rows = f["seg_rows"]
        offsets = np.concatenate([[0], np.cumsum(rows)])
        fields = {n: f[f"field_{n}"] for n in ARRAY_FIELDS if f"field_{n}" in f.files}
        # files written before multi-task runs hold no task ids: every segment is task 0
        task_ids = f["seg_task_ids"] if "seg_task_ids" in f.files else np.zeros(len(rows), int)
        segments = []
        for i, layout in enumerate(f["seg_meta"].tolist()):
            seg_len, unroll, td, length, padding, end, terminated = layout
            arrays = {n: a[offsets[i] : offsets[i + 1]] for n, a in fields.items()}
            segments.append(
                GameSegment.from_arrays(
                    arrays,
                    seg_len,
                    unroll,
                    td,
                    length,
                    padding,
                    end,
                    bool(terminated),
                    int(task_ids[i]),
                )
            )
    return segments


def read_segments_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``meta`` dict saved with the segments."""
    with np.load(path, allow_pickle=False) as f:
        return json.loads(str(f["meta"]))
