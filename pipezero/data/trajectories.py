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

from pipezero.data.game_segment import GameSegment
from pipezero.data.segment_arrays import pack_segments, unpack_segments

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
        **pack_segments(segments),
    }
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
        segments = unpack_segments(f)
    return segments


def read_segments_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``meta`` dict saved with the segments."""
    with np.load(path, allow_pickle=False) as f:
        return json.loads(str(f["meta"]))
