"""Save and load a :class:`~pipezero.data.replay_buffer.ReplayBuffer` as one ``.npz`` file.

The file holds the buffer's parameters and counters, its random-generator state, the live
priorities and every segment's arrays concatenated along the first axis (``seg_rows`` gives
each segment's row count). Writing goes to a temporary file in the same directory, which
is flushed, synced and then renamed over the destination (``os.replace``), so a crash never
leaves a half-written buffer behind. The file gets the permissions a plain ``open()`` gives
(0666 less the umask: 0644 under the usual 022), like the checkpoints beside it.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import numpy as np

from pipezero.data.replay_buffer import ReplayBuffer
from pipezero.data.segment_arrays import pack_segments, unpack_segments

FORMAT_VERSION = 1


def save_buffer(buffer: ReplayBuffer, path: str | os.PathLike[str]) -> None:
    """Write ``buffer`` to ``path`` atomically (the file is written as-is, any suffix)."""
    path = Path(path)
    segments = list(buffer._segments.items())
    data: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION),
        "config": np.array(
            json.dumps(
                {
                    "capacity": buffer.capacity,
                    "num_unroll_steps": buffer.num_unroll_steps,
                    "td_steps": buffer.td_steps,
                    "discount_factor": buffer.discount_factor,
                    "priority_prob_alpha": buffer.priority_prob_alpha,
                    "priority_prob_beta": buffer.priority_prob_beta,
                    "balance_tasks": buffer.balance_tasks,
                    "next_segment_id": buffer._next_segment_id,
                    "first_id": buffer._first_id,
                    "next_id": buffer._next_id,
                    "max_priority": buffer._max_priority,
                    "rng_state": buffer.rng.bit_generator.state,
                }
            )
        ),
        "seg_ids": np.array([sid for sid, _ in segments], dtype=np.int64),
        "seg_first_ids": np.array([first for _, (_, first) in segments], dtype=np.int64),
        "priorities": buffer.get_priorities(np.arange(buffer._first_id, buffer._next_id)),
        **pack_segments([s for _, (s, _) in segments]),
    }
    # a fresh name opened like open() would (mode 0666 less the umask), not mkstemp's 0600
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_buffer(path: str | os.PathLike[str]) -> ReplayBuffer:
    """Read a buffer written by :func:`save_buffer`."""
    with np.load(path, allow_pickle=False) as f:
        version = int(f["format_version"])
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{path}: replay buffer format {version}, this pipezero reads {FORMAT_VERSION}"
            )
        cfg = json.loads(str(f["config"]))
        buffer = ReplayBuffer(
            capacity=cfg["capacity"],
            num_unroll_steps=cfg["num_unroll_steps"],
            td_steps=cfg["td_steps"],
            discount_factor=cfg["discount_factor"],
            priority_prob_alpha=cfg["priority_prob_alpha"],
            priority_prob_beta=cfg["priority_prob_beta"],
            balance_tasks=cfg.get("balance_tasks", True),
        )
        buffer.rng.bit_generator.state = cfg["rng_state"]
        priorities = f["priorities"]
        base = cfg["first_id"]
        ids = zip(f["seg_ids"], f["seg_first_ids"], strict=True)
        for segment, (sid, first) in zip(unpack_segments(f), ids, strict=True):
            if buffer._layout is None:
                buffer._layout = segment.layout
            start = int(first) - base
            live = priorities[start : start + segment.length]
            buffer._insert(segment, int(sid), int(first), live)
        buffer._first_id = base
        buffer._next_id = cfg["next_id"]
        buffer._next_segment_id = cfg["next_segment_id"]
        buffer._max_priority = cfg["max_priority"]
    return buffer
