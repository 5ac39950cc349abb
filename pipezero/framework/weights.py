"""Versioned store of policy weights with a staleness bound.

The learner publishes, collectors and evaluators pull. The engine never looks inside the
weights: they are opaque objects (a state dict, a path, a version tag). A store serves the
threads of one process; :meth:`WeightStore.share` (called by a process backend before it forks)
moves its state into shared memory so that forked runner processes pull what the learner
publishes, and their staleness bounds the learner as a thread's would.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
from collections.abc import Iterator
from typing import Any

from .channel import POLL_INTERVAL
from .shared import LocalState, SharedBlob, SharedState, StateCell, process_ident

__all__ = ["WeightStore", "WeightSubscriber"]

logger = logging.getLogger(__name__)


class WeightSubscriber:
    """A reader of a :class:`WeightStore`; create it with :meth:`WeightStore.subscribe`.

    Staleness is counted in publications: a subscriber holding the weights of the ``k``-th
    publication while ``n`` have been made is ``n - k`` behind. Its bookkeeping lives in the
    store, so a subscriber created before a fork keeps working in the child process.
    """

    def __init__(self, store: WeightStore, name: str, bounded: bool) -> None:
        self._store = store
        self.name = name
        self.bounded = bounded

    @property
    def version(self) -> int | None:
        """Version of the weights held, ``None`` before the first successful pull."""
        with self._store._state.cond:
            return self._store._state.load()["subs"][self.name]["version"]

    @property
    def staleness(self) -> int:
        """Publications made since the held weights (0 = up to date)."""
        with self._store._state.cond:
            meta = self._store._state.load()
            return meta["seq"] - meta["subs"][self.name]["seq"]

    def pull(self) -> tuple[int, Any] | None:
        """Return ``(version, weights)`` if newer weights than those held exist, else ``None``."""
        store = self._store
        state = store._state
        with state.cond:
            meta = state.load()
            sub = meta["subs"][self.name]
            if sub["closed"]:
                raise RuntimeError(f"weight subscriber {self.name!r} is closed")
            sub["owner"] = process_ident()
            if meta["seq"] == sub["seq"]:
                state.store(meta)
                return None
            sub["seq"], sub["version"] = meta["seq"], meta["version"]
            version, payload = meta["version"], store._read_payload()
            state.store(meta)
            state.cond.notify_all()
        return version, store._decode(payload)

    def close(self) -> None:
        """Stop constraining the publisher; later pulls raise ``RuntimeError``."""
        state = self._store._state
        with state.cond:
            meta = state.load()
            meta["subs"][self.name]["closed"] = True
            state.store(meta)
            state.cond.notify_all()


class WeightStore:
    """Store of the newest policy weights and their version, safe across runner threads (and,
    after :meth:`share`, across forked runner processes).

    Args:
        max_staleness: when set (>= 1), :meth:`publish` waits while a bounded subscriber
            would be more than ``max_staleness`` publications behind. ``None``: never waits.
        max_version_lag: when set (>= 0), :meth:`publish` of version ``v`` waits while a
            bounded subscriber acts with weights of a version below ``v - max_version_lag``.
            With versions counted in train iterations this is the policy lag in iterations
            (``max_policy_lag`` of the recipes). ``None``: no such bound.

    The bounds protect weights *in use*, so publishing never waits for a subscriber that:
    has not pulled yet (it gets the newest weights on its first pull); pulled last from the
    publishing thread (sync mode: waiting would deadlock); is closed; or whose thread is
    inside :meth:`idle` (an async runner waiting between steps: it pulls again when its next
    step starts, and waiting for it could deadlock against channel backpressure). Nor does it
    wait after :meth:`interrupt`. A bounded subscriber should therefore pull at the start of
    each step that uses the weights.
    """

    def __init__(
        self, max_staleness: int | None = None, *, max_version_lag: int | None = None
    ) -> None:
        if max_staleness is not None and (not isinstance(max_staleness, int) or max_staleness < 1):
            raise ValueError(
                f"max_staleness must be None or an int >= 1, got {max_staleness!r} "
                f"(0 would make every publish wait for itself)"
            )
        if max_version_lag is not None and (
            isinstance(max_version_lag, bool)
            or not isinstance(max_version_lag, int)
            or max_version_lag < 0
        ):
            raise ValueError(
                f"max_version_lag must be None or an int >= 0, got {max_version_lag!r}"
            )
        self.max_staleness = max_staleness
        self.max_version_lag = max_version_lag
        self._state: StateCell = LocalState(_initial_meta())
        self._blob: SharedBlob | None = None  # shared mode: the pickled weights
        self._weights: Any = None  # local mode: the weights object itself

    # -- sharing ----------------------------------------------------------------------------
    @property
    def shared(self) -> bool:
        """Whether the store lives in shared memory (see :meth:`share`)."""
        return self._blob is not None

    def share(self, mp_context: Any, weights_capacity: int = 256 << 20) -> None:
        """Move the store into shared memory so that processes forked afterwards use it.

        Subscribers created before keep working in every process. From now on weights are
        pickled on publish and unpickled on pull, so each puller gets its own copy.

        Args:
            mp_context: a multiprocessing context with the ``fork`` start method.
            weights_capacity: bytes reserved for one pickled set of weights (committed only
                as far as used).
        """
        if self._blob is not None:
            return
        with self._state.cond:
            meta = self._state.load()
            state = SharedState(mp_context, meta, name="weight store metadata")
            blob = SharedBlob(weights_capacity, "weight store")
            if meta["version"] is not None:
                blob.write(self._encode(self._weights), "weights")
            self._state, self._blob, self._weights = state, blob, None

    def _encode(self, weights: Any) -> bytes:
        return pickle.dumps(weights, protocol=pickle.HIGHEST_PROTOCOL)

    def _read_payload(self) -> Any:
        """Under the condition: the stored weights (shared mode: their pickled bytes)."""
        return self._weights if self._blob is None else self._blob.read()

    def _decode(self, payload: Any) -> Any:
        return payload if self._blob is None else pickle.loads(payload)

    # -- publishing -------------------------------------------------------------------------
    @property
    def version(self) -> int | None:
        """Newest published version, ``None`` before the first publish."""
        with self._state.cond:
            return self._state.load()["version"]

    def publish(self, weights: Any, version: int) -> None:
        """Make ``weights`` the newest, waiting first if a staleness bound requires it.

        Raises:
            ValueError: ``version`` is not greater than the newest published version.
        """
        data = self._encode(weights) if self._blob is not None else None
        state = self._state
        with state.cond:
            meta = state.load()
            if meta["version"] is not None and version <= meta["version"]:
                raise ValueError(
                    f"weight versions must increase strictly: got {version} after "
                    f"{meta['version']}; publish with a larger version (e.g. ctx.train_iter)"
                )
            waited = False
            while (laggard := self._laggard(meta, version)) is not None:
                if not waited:
                    logger.debug("publish v%s waits for subscriber %r", version, laggard)
                    waited = True
                state.cond.wait(POLL_INTERVAL)
                meta = state.load()
            meta["seq"] += 1
            meta["version"] = version
            if self._blob is None:
                self._weights = weights
            else:
                assert data is not None
                self._blob.write(data, "weights")
            state.store(meta)
            state.cond.notify_all()

    def lags(self) -> dict[str, int]:
        """``{subscriber: newest version - version it holds}`` for the open subscribers that
        pulled once (the policy lag in version units: train iterations for the learners of
        pipezero); empty before the first publish."""
        with self._state.cond:
            meta = self._state.load()
        newest = meta["version"]
        if newest is None:
            return {}
        return {
            name: int(newest - sub["version"])
            for name, sub in meta["subs"].items()
            if sub["version"] is not None and not sub["closed"]
        }

    def latest(self) -> tuple[int, Any]:
        """Return ``(version, weights)`` of the newest publication.

        Raises:
            LookupError: nothing was published yet.
        """
        with self._state.cond:
            version = self._state.load()["version"]
            if version is None:
                raise LookupError("no weights published yet; the learner publishes with publish()")
            payload = self._read_payload()
        return version, self._decode(payload)

    def subscribe(self, name: str, *, bounded: bool = True) -> WeightSubscriber:
        """Create a named subscriber; ``bounded`` ones are subject to the staleness bounds."""
        state = self._state
        with state.cond:
            meta = state.load()
            if name in meta["subs"]:
                raise ValueError(f"weight subscriber {name!r} exists already; pick another name")
            meta["subs"][name] = {
                "seq": 0,  # publication index held; 0 = nothing pulled yet
                "version": None,
                "owner": None,  # (pid, thread ident) of the last pull
                "closed": False,
                "bounded": bounded,
            }
            state.store(meta)
        return WeightSubscriber(self, name, bounded)

    def interrupt(self) -> None:
        """Lift the staleness bounds for good (the run is stopping); wake waiting publishers."""
        self._update(lambda meta: meta.__setitem__("interrupted", True))

    @contextlib.contextmanager
    def idle(self) -> Iterator[None]:
        """Within this block the calling thread uses no weights; the bounds ignore its
        subscribers. Runners wrap their waits between steps in it."""
        me = process_ident()
        self._update(lambda meta: meta["idle"].add(me))
        try:
            yield
        finally:
            self._update(lambda meta: meta["idle"].discard(me), notify=False)

    def release_thread(self, thread_id: int) -> None:
        """Close the subscribers last pulled from ``thread_id`` of this process (its runner
        has ended)."""
        owner = (process_ident()[0], thread_id)

        def close(meta: dict[str, Any]) -> None:
            for sub in meta["subs"].values():
                if sub["owner"] == owner:
                    sub["closed"] = True

        self._update(close)

    def _update(self, change: Any, notify: bool = True) -> None:
        state = self._state
        with state.cond:
            meta = state.load()
            change(meta)
            state.store(meta)
            if notify:
                state.cond.notify_all()

    def _laggard(self, meta: dict[str, Any], version: int) -> str | None:
        """Name of a subscriber that publishing ``version`` would leave too far behind."""
        if meta["interrupted"] or (self.max_staleness is None and self.max_version_lag is None):
            return None
        me = process_ident()
        for name, sub in meta["subs"].items():
            if (
                not sub["bounded"]
                or sub["closed"]
                or sub["seq"] == 0
                or sub["owner"] == me
                or sub["owner"] in meta["idle"]
            ):
                continue
            if self.max_staleness is not None and meta["seq"] + 1 - sub["seq"] > self.max_staleness:
                return name
            if self.max_version_lag is not None and version - sub["version"] > self.max_version_lag:
                return name
        return None


def _initial_meta() -> dict[str, Any]:
    return {"seq": 0, "version": None, "subs": {}, "idle": set(), "interrupted": False}
