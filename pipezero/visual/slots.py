"""One picture (or a note) per environment in shared memory, for the visual mode.

The collector that writes a slot may be a forked process (``--mode async --backend
process``) and the server reads from its own thread, so the slots live in shared memory
created before the fork, and neither side ever waits: each slot has a sequence counter that
the writer makes odd while it writes and even again after (a sequence lock); a reader copies
the slot and keeps the copy only if the counter was even and unchanged around it.
"""

from __future__ import annotations

import multiprocessing

import numpy as np

__all__ = ["FrameSlots"]

_EMPTY, _FRAME, _NOTE = 0, 1, 2


class FrameSlots:
    """``count`` slots, each holding a ``[H, W, 3]`` uint8 picture of at most
    ``max_side`` x ``max_side`` pixels, or a short note.

    One writer per slot (the environment's collector), any number of readers.
    """

    def __init__(self, count: int, max_side: int) -> None:
        mp = multiprocessing.get_context("fork")
        self.count = count
        self.max_side = max_side
        self.capacity = max_side * max_side * 3
        # Both arrays are shared anonymous memory; the NumPy views stay valid in forked
        # children, where the mapping sits at the same address.
        self._meta = np.frombuffer(mp.RawArray("q", 4 * count), dtype=np.int64).reshape(count, 4)
        self._data = np.frombuffer(mp.RawArray("B", self.capacity * count), dtype=np.uint8)
        self._data = self._data.reshape(count, self.capacity)

    def write_frame(self, index: int, frame: np.ndarray) -> None:
        """Store ``frame`` (``[H, W, 3]`` uint8, both sides at most ``max_side``).

        Raises:
            ValueError: the picture is larger than a slot.
        """
        h, w = frame.shape[:2]
        if frame.shape != (h, w, 3) or max(h, w) > self.max_side:
            raise ValueError(
                f"a slot holds [H, W, 3] pictures of at most {self.max_side} pixels a side, "
                f"got shape {frame.shape}"
            )
        self._write(index, _FRAME, h, w, frame.reshape(-1))

    def write_note(self, index: int, note: str) -> None:
        """Store why environment ``index`` shows no picture."""
        data = np.frombuffer(note.encode()[: self.capacity], dtype=np.uint8)
        self._write(index, _NOTE, data.size, 0, data)

    def _write(self, index: int, kind: int, h: int, w: int, data: np.ndarray) -> None:
        meta = self._meta[index]
        meta[0] += 1  # odd: writing
        self._data[index, : data.size] = data
        meta[1:] = (kind, h, w)
        meta[0] += 1  # even: done

    def read(self, index: int) -> tuple[int, np.ndarray | str] | None:
        """``(version, picture or note)`` of slot ``index``, or ``None`` when it is empty
        (or was being written during each of a few tries). The version grows with every
        write."""
        meta = self._meta[index]
        for _ in range(8):
            seq = int(meta[0])
            if seq % 2:
                continue
            kind, h, w = (int(v) for v in meta[1:])
            if kind == _EMPTY:
                return None
            size = h * w * 3 if kind == _FRAME else h
            data = self._data[index, :size].copy()
            if int(meta[0]) != seq:
                continue
            if kind == _FRAME:
                return seq // 2, data.reshape(h, w, 3)
            return seq // 2, data.tobytes().decode(errors="replace")
        return None
