"""Bounded blocking channel between two runners."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from .errors import ChannelClosed, StopRequested

__all__ = ["Channel"]

T = TypeVar("T")

#: Longest single wait, so that stop flags are noticed quickly (seconds).
POLL_INTERVAL = 0.05


class Channel(Generic[T]):
    """A FIFO of at most ``capacity`` items with blocking, stop-aware ``put`` and ``get``.

    ``put`` blocks while the channel is full (backpressure): nothing is dropped and nothing is
    duplicated. After :meth:`close`, ``put`` raises :class:`ChannelClosed`; ``get`` still
    returns the items left and raises :class:`ChannelClosed` once the channel is empty.

    Every blocking call waits in slices of at most :data:`POLL_INTERVAL` seconds and raises
    :class:`StopRequested` as soon as the ``stop`` event it was given is set.
    """

    def __init__(self, capacity: int, name: str = "channel") -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"channel {name!r}: capacity must be an int >= 1, got {capacity!r}")
        self.capacity = capacity
        self.name = name
        self._items: collections.deque[T] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._high_water = 0

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def high_water(self) -> int:
        """Largest number of items the channel has held at once."""
        return self._high_water

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(
        self, item: T, timeout: float | None = None, stop: threading.Event | None = None
    ) -> None:
        """Append ``item``, waiting while the channel is full.

        Args:
            item: the value to send.
            timeout: seconds to wait at most (``None``: no limit).
            stop: when set, the wait ends with :class:`StopRequested`.

        Raises:
            ChannelClosed: the channel is closed (before or while waiting).
            TimeoutError: still full after ``timeout`` seconds.
            StopRequested: ``stop`` was set while waiting.
        """
        with self._cond:
            self._wait(lambda: len(self._items) < self.capacity, "put", timeout, stop)
            self._items.append(item)
            self._high_water = max(self._high_water, len(self._items))
            self._cond.notify_all()

    def get(self, timeout: float | None = None, stop: threading.Event | None = None) -> T:
        """Remove and return the oldest item, waiting while the channel is empty.

        Raises:
            ChannelClosed: the channel is closed and empty.
            TimeoutError: still empty after ``timeout`` seconds.
            StopRequested: ``stop`` was set while waiting.
        """
        with self._cond:
            self._wait(lambda: bool(self._items), "get", timeout, stop)
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """Refuse further puts and wake every waiter. Closing twice is harmless."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _wait(
        self,
        ready: Callable[[], bool],
        op: str,
        timeout: float | None,
        stop: threading.Event | None,
    ) -> None:
        """Wait (holding the condition) until ``ready()``; raise on close, stop or timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._closed and (op == "put" or not self._items):
                detail = "" if op == "put" else " and empty"
                raise ChannelClosed(f"cannot {op} on channel {self.name!r}: it is closed{detail}")
            if ready():
                return
            if stop is not None and stop.is_set():
                raise StopRequested(f"{op} on channel {self.name!r} abandoned: run is stopping")
            wait = POLL_INTERVAL
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{op} on channel {self.name!r} timed out after {timeout} s "
                        f"({len(self._items)}/{self.capacity} items)"
                    )
                wait = min(wait, remaining)
            self._cond.wait(wait)
