"""State that the runners of async mode share: within one process, or across forked processes.

Each class here comes in two flavours with the same interface:

- :class:`LocalState` / :class:`LocalSlot` keep a Python object in memory behind a
  ``threading.Condition`` (thread runners);
- :class:`SharedState` / :class:`SharedBlob` pickle it into an anonymous shared memory map
  created *before* the runner processes are forked, behind a ``multiprocessing`` condition
  (process runners). Values must then be picklable and fit the map's capacity.

Callers hold ``state.cond`` around :meth:`load` / :meth:`store` and call ``notify_all`` after
a change, exactly as with a plain condition variable.
"""

from __future__ import annotations

import mmap
import os
import pickle
import threading
import time
from multiprocessing.context import BaseContext
from typing import Any, Protocol

__all__ = [
    "LocalState",
    "SharedBlob",
    "SharedCondition",
    "SharedFlag",
    "SharedState",
    "StateCell",
    "process_ident",
]

_HEADER = 8  # bytes holding the length of the pickled value
_NAP_MIN, _NAP_MAX = 0.0005, 0.005  # seconds between checks of a waiting process


class SharedCondition:
    """A condition variable for forked processes that survives the death of a waiter.

    ``multiprocessing.Condition.notify`` waits for each sleeping waiter to acknowledge; a
    waiter that died while waiting (a daemon thread at process exit, a killed child) makes
    every later notify hang. Here a waiter releases the lock and naps (0.5 ms, growing to
    5 ms) until the notification counter moves or its timeout expires, so nothing waits for
    an acknowledgement. Use it like ``threading.Condition``: ``with cond: ... cond.wait(t)``.
    """

    def __init__(self, mp_context: BaseContext) -> None:
        self._lock = mp_context.Lock()
        self._generation = mp_context.RawValue("Q", 0)

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def wait(self, timeout: float) -> None:
        """Release the lock until notified or ``timeout`` seconds passed; hold it again."""
        seen = self._generation.value
        deadline = time.monotonic() + timeout
        self._lock.release()
        try:
            nap = _NAP_MIN
            while self._generation.value == seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                time.sleep(min(nap, remaining))
                nap = min(2 * nap, _NAP_MAX)
        finally:
            self._lock.acquire()

    def notify_all(self) -> None:
        """Wake every waiter (call with the lock held)."""
        self._generation.value += 1


class SharedFlag:
    """A ``threading.Event`` look-alike for forked processes (set once, polled)."""

    def __init__(self, mp_context: BaseContext) -> None:
        self._value = mp_context.RawValue("b", 0)

    def is_set(self) -> bool:
        """Whether :meth:`set` was called in any process."""
        return bool(self._value.value)

    def set(self) -> None:
        """Raise the flag for every process."""
        self._value.value = 1

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the flag is set or ``timeout`` seconds passed; return the flag."""
        deadline = None if timeout is None else time.monotonic() + timeout
        nap = _NAP_MIN
        while not self._value.value:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            time.sleep(nap if remaining is None else min(nap, remaining))
            nap = min(2 * nap, 0.05)
        return True


def process_ident() -> tuple[int, int]:
    """``(pid, thread ident)`` of the caller: unique across the processes of one run."""
    return os.getpid(), threading.get_ident()


class StateCell(Protocol):
    """A guarded value: hold ``cond`` around ``load``/``store``."""

    cond: Any

    def load(self) -> Any:
        """The current value (a private copy for shared cells)."""

    def store(self, value: Any) -> None:
        """Replace the value."""


class LocalState:
    """A value shared by the threads of one process; ``load`` returns the object itself."""

    def __init__(self, value: Any) -> None:
        self.cond = threading.Condition()
        self._value = value

    def load(self) -> Any:
        """The value (not a copy: mutate it in place or :meth:`store` a new one)."""
        return self._value

    def store(self, value: Any) -> None:
        """Replace the value."""
        self._value = value


class SharedBlob:
    """Bytes in an anonymous shared memory map, visible to processes forked after creation.

    Args:
        capacity: bytes the map holds (pages are only committed when written).
        name: used in error messages.
    """

    def __init__(self, capacity: int, name: str) -> None:
        if not isinstance(capacity, int) or capacity <= _HEADER:
            raise ValueError(f"{name}: capacity must be an int > {_HEADER} bytes, got {capacity!r}")
        self.name = name
        self.capacity = capacity
        self._map = mmap.mmap(-1, capacity)
        self._map[:_HEADER] = (0).to_bytes(_HEADER, "little")

    def write(self, data: bytes | bytearray | memoryview, what: str = "value") -> None:
        """Store ``data`` (the caller serialises writers and readers).

        Raises:
            ValueError: ``data`` does not fit; the message names the sizes.
        """
        size = len(data)
        if size + _HEADER > self.capacity:
            raise ValueError(
                f"{self.name}: the pickled {what} need {size} bytes "
                f"({size / 2**20:.1f} MiB) but the shared memory holds {self.capacity - _HEADER} "
                f"bytes; raise the capacity (ProcessBackend(weights_capacity_mb=...) for "
                f"weights) or share less"
            )
        self._map[_HEADER : _HEADER + size] = data
        self._map[:_HEADER] = size.to_bytes(_HEADER, "little")

    def read(self) -> bytes:
        """A copy of the bytes stored last (empty before any write)."""
        size = int.from_bytes(self._map[:_HEADER], "little")
        return self._map[_HEADER : _HEADER + size]


class SharedState:
    """A picklable value shared by forked processes, guarded by a multiprocessing condition.

    Args:
        mp_context: a multiprocessing context with the ``fork`` start method.
        value: the initial value.
        capacity: bytes available for the pickled value.
        name: used in error messages.
    """

    def __init__(
        self, mp_context: BaseContext, value: Any, capacity: int = 1 << 20, name: str = "state"
    ) -> None:
        self.cond = SharedCondition(mp_context)
        self._blob = SharedBlob(capacity, name)
        self.store(value)

    def load(self) -> Any:
        """A private copy of the value."""
        return pickle.loads(self._blob.read())

    def store(self, value: Any) -> None:
        """Replace the value (pickled at once)."""
        self._blob.write(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
