"""Versioned store of policy weights with a staleness bound.

The learner publishes, collectors and evaluators pull. The engine never looks inside the
weights: they are opaque objects (a state dict, a path, a version tag).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

from .channel import POLL_INTERVAL

__all__ = ["WeightStore", "WeightSubscriber"]

logger = logging.getLogger(__name__)


class WeightSubscriber:
    """A reader of a :class:`WeightStore`; create it with :meth:`WeightStore.subscribe`.

    Staleness is counted in publications: a subscriber holding the weights of the ``k``-th
    publication while ``n`` have been made is ``n - k`` behind.
    """

    def __init__(self, store: WeightStore, name: str, bounded: bool) -> None:
        self._store = store
        self.name = name
        self.bounded = bounded
        self._seq = 0  # publication index held; 0 = nothing pulled yet
        self._version: int | None = None
        self._owner: int | None = None  # thread ident of the last pull
        self._closed = False

    @property
    def version(self) -> int | None:
        """Version of the weights held, ``None`` before the first successful pull."""
        return self._version

    @property
    def staleness(self) -> int:
        """Publications made since the held weights (0 = up to date)."""
        with self._store._cond:
            return self._store._seq - self._seq

    def pull(self) -> tuple[int, Any] | None:
        """Return ``(version, weights)`` if newer weights than those held exist, else ``None``."""
        store = self._store
        with store._cond:
            if self._closed:
                raise RuntimeError(f"weight subscriber {self.name!r} is closed")
            self._owner = threading.get_ident()
            if store._seq == self._seq:
                return None
            self._seq = store._seq
            self._version = store._version
            store._cond.notify_all()
            return store._version, store._weights  # type: ignore[return-value]

    def close(self) -> None:
        """Stop constraining the publisher; later pulls raise ``RuntimeError``."""
        with self._store._cond:
            self._closed = True
            self._store._cond.notify_all()


class WeightStore:
    """Thread-safe store of the newest policy weights and their version.

    Args:
        max_staleness: when set (>= 1), :meth:`publish` waits while a bounded subscriber
            would be more than ``max_staleness`` publications behind. ``None``: never waits.

    The bound protects weights *in use*, so publishing never waits for a subscriber that:
    has not pulled yet (it gets the newest weights on its first pull); pulled last from the
    publishing thread (sync mode: waiting would deadlock); is closed; or whose thread is
    inside :meth:`idle` (an async runner waiting between steps: it pulls again when its next
    step starts, and waiting for it could deadlock against channel backpressure). Nor does it
    wait after :meth:`interrupt`. A bounded subscriber should therefore pull at the start of
    each step that uses the weights.
    """

    def __init__(self, max_staleness: int | None = None) -> None:
        if max_staleness is not None and (not isinstance(max_staleness, int) or max_staleness < 1):
            raise ValueError(
                f"max_staleness must be None or an int >= 1, got {max_staleness!r} "
                f"(0 would make every publish wait for itself)"
            )
        self.max_staleness = max_staleness
        self._cond = threading.Condition()
        self._seq = 0
        self._version: int | None = None
        self._weights: Any = None
        self._subscribers: dict[str, WeightSubscriber] = {}
        self._idle: set[int] = set()
        self._interrupted = False

    @property
    def version(self) -> int | None:
        """Newest published version, ``None`` before the first publish."""
        with self._cond:
            return self._version

    def publish(self, weights: Any, version: int) -> None:
        """Make ``weights`` the newest, waiting first if the staleness bound requires it.

        Raises:
            ValueError: ``version`` is not greater than the newest published version.
        """
        with self._cond:
            if self._version is not None and version <= self._version:
                raise ValueError(
                    f"weight versions must increase strictly: got {version} after "
                    f"{self._version}; publish with a larger version (e.g. ctx.train_iter)"
                )
            waited = False
            while (laggard := self._laggard()) is not None:
                if not waited:
                    logger.debug("publish v%s waits for subscriber %r", version, laggard.name)
                    waited = True
                self._cond.wait(POLL_INTERVAL)
            self._seq += 1
            self._version = version
            self._weights = weights
            self._cond.notify_all()

    def latest(self) -> tuple[int, Any]:
        """Return ``(version, weights)`` of the newest publication.

        Raises:
            LookupError: nothing was published yet.
        """
        with self._cond:
            if self._version is None:
                raise LookupError("no weights published yet; the learner publishes with publish()")
            return self._version, self._weights

    def subscribe(self, name: str, *, bounded: bool = True) -> WeightSubscriber:
        """Create a named subscriber; ``bounded`` ones are subject to ``max_staleness``."""
        with self._cond:
            if name in self._subscribers:
                raise ValueError(f"weight subscriber {name!r} exists already; pick another name")
            sub = WeightSubscriber(self, name, bounded)
            self._subscribers[name] = sub
            return sub

    def interrupt(self) -> None:
        """Lift the staleness bound for good (the run is stopping) and wake waiting publishers."""
        with self._cond:
            self._interrupted = True
            self._cond.notify_all()

    @contextlib.contextmanager
    def idle(self) -> Iterator[None]:
        """Within this block the calling thread uses no weights; the bound ignores its
        subscribers. Runners wrap their waits between steps in it."""
        ident = threading.get_ident()
        with self._cond:
            self._idle.add(ident)
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._idle.discard(ident)

    def release_thread(self, thread_id: int) -> None:
        """Close the subscribers last pulled from ``thread_id`` (its runner has ended)."""
        with self._cond:
            for sub in self._subscribers.values():
                if sub._owner == thread_id:
                    sub._closed = True
            self._cond.notify_all()

    def _laggard(self) -> WeightSubscriber | None:
        """A subscriber that one more publication would leave too far behind, if any."""
        if self.max_staleness is None or self._interrupted:
            return None
        me = threading.get_ident()
        for sub in self._subscribers.values():
            if (
                not sub.bounded
                or sub._closed
                or sub._seq == 0
                or sub._owner == me
                or sub._owner in self._idle
            ):
                continue
            if self._seq + 1 - sub._seq > self.max_staleness:
                return sub
        return None
