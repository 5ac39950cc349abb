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

from pipezero.data.game_segment import ARRAY_FIELDS, GameSegment
from pipezero.data.replay_buffer import ReplayBuffer

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
                for _, (s, _) in segments
            ],
            dtype=np.int64,
        ).reshape(-1, 7),
        "seg_rows": np.array([s.num_positions for _, (s, _) in segments], dtype=np.int64),
        "seg_task_ids": np.array([s.task_id for _, (s, _) in segments], dtype=np.int64),
        "priorities": buffer.get_priorities(np.arange(buffer._first_id, buffer._next_id)),
    }
    if segments:
        for name in ARRAY_FIELDS:
            data[f"field_{name}"] = np.concatenate([getattr(s, name) for _, (s, _) in segments])
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
        rows = f["seg_rows"]
        stored = [name for name in ARRAY_FIELDS if f"field_{name}" in f.files]
        fields = {name: f[f"field_{name}"] for name in stored} if len(rows) else {}
        offsets = np.concatenate([[0], np.cumsum(rows)])
        priorities = f["priorities"]
        base = cfg["first_id"]
        # files written before multi-task runs hold no task ids: every segment is task 0
        task_ids = f["seg_task_ids"] if "seg_task_ids" in f.files else np.zeros(len(rows), int)
        for i, (sid, first) in enumerate(zip(f["seg_ids"], f["seg_first_ids"], strict=True)):
            seg_len, unroll, td, length, padding, end, terminated = f["seg_meta"][i].tolist()
            arrays = {name: fields[name][offsets[i] : offsets[i + 1]] for name in stored}
            segment = GameSegment.from_arrays(
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
            if buffer._layout is None:
                buffer._layout = segment.layout
            start = int(first) - base
            buffer._insert(segment, int(sid), int(first), priorities[start : start + length])
        buffer._first_id = base
        buffer._next_id = cfg["next_id"]
        buffer._next_segment_id = cfg["next_segment_id"]
        buffer._max_priority = cfg["max_priority"]
    return buffer
