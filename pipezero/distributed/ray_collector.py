"""A pool of Ray actors running self-play workers: versioned weights, restarts, timeouts.

The pool knows nothing about reinforcement learning: each actor hosts a *worker* built by
``make_worker(actor_index, seed)`` with two methods, ``set_weights(weights)`` and
``collect(**request) -> value``. The pool keeps one ``collect`` request in flight per actor,
so the actors keep playing while the learner trains, and hands back :class:`ActorResult`
items tagged with the weight version the actor held when it produced them.

Weights are put into Ray's object store once per version (``ray.put``) and travel to an
actor with its next request only when the actor holds an older version.

Fault tolerance: an actor that dies (process crash, node loss, ``ray.kill``) is replaced by a
fresh one built with the same index and a new seed, which receives the newest weights with
its first request; collection goes on with the other actors' results meanwhile. A worker
that *raises* is not restarted (the error would repeat): the error is re-raised with the
actor's index. No call waits forever: a request unanswered after ``timeout_s`` raises
:class:`TimeoutError`.

Ray is imported when the pool starts; install it with ``pip install "pipezero[ray]"``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["ActorResult", "RayActorPool", "SelfPlayWorker", "import_ray", "init_local_ray"]

logger = logging.getLogger(__name__)

#: A restarted actor's seed moves by this much per restart (distinct trajectories).
RESTART_SEED_STRIDE = 1_000_003
#: Actor ``i``'s seed is ``seed + i * ACTOR_SEED_STRIDE``.
ACTOR_SEED_STRIDE = 10_007


class SelfPlayWorker(Protocol):
    """What a pool actor hosts."""

    def set_weights(self, weights: Any) -> None:
        """Load a weight snapshot (what the learner's ``get_weights`` returned)."""
        ...

    def collect(self, **request: Any) -> Any:
        """Play and return what was produced (picklable)."""
        ...


@dataclass
class ActorResult:
    """One answer of a pool actor.

    Attributes:
        actor: index of the actor in the pool (kept across restarts).
        weight_version: version of the weights the actor held while collecting (``-1``:
            the weights it was built with, before any broadcast).
        value: what the worker's ``collect`` returned.
        seconds: time the worker spent in ``collect``, in seconds.
    """

    actor: int
    weight_version: int
    value: Any
    seconds: float


def import_ray() -> Any:
    """``import ray`` with an install hint when it is missing."""
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - exercised only without ray
        raise ImportError(
            'Ray self-play needs the "ray" package: pip install "pipezero[ray]" (ray>=2.9)'
        ) from exc
    return ray


def init_local_ray(**kwargs: Any) -> None:
    """``ray.init(**kwargs)`` with the actors at the driver's CPU priority.

    A Ray node started here runs its worker processes 15 nice levels below the driver (Ray's
    ``worker_niceness`` default), so on a machine where the learner or other work keeps the
    cores busy the self-play actors get almost no CPU: measured in this project's test suite on
    2 cores, the Ray tests took 8x as long beside a second busy worker. The actors are the
    collectors here, not background work, so they run at niceness 0 unless the environment
    already sets ``RAY_worker_niceness``. (Joining a running cluster keeps its own setting.)
    """
    os.environ.setdefault("RAY_worker_niceness", "0")
    import_ray().init(**kwargs)


class _ActorHost:
    """The Ray actor: builds the worker in its own process and runs its requests."""

    def __init__(
        self,
        make_worker: Callable[[int, int], SelfPlayWorker],
        index: int,
        seed: int,
        torch_threads: int,
    ) -> None:
        import torch

        torch.set_num_threads(torch_threads)
        # As the policies do (pipezero.policy.schedules.flush_denormals): denormal weights
        # slow the actor's network calls several-fold.
        torch.set_flush_denormal(True)
        self.index = index
        self.version = -1
        self.worker = make_worker(index, seed)

    def run(self, version: int, weights: Any, request: Mapping[str, Any]) -> ActorResult:
        if weights is not None:
            self.worker.set_weights(weights)
            self.version = version
        start = time.perf_counter()
        value = self.worker.collect(**request)
        return ActorResult(self.index, self.version, value, time.perf_counter() - start)


class RayActorPool:
    """``num_actors`` Ray actors, each with its own worker from ``make_worker``.

    Args:
        make_worker: ``make_worker(actor_index, seed) -> worker``, run inside the actor's
            process; it must be picklable (a module-level function or class, or a
            ``functools.partial`` of one).
        num_actors: actors in the pool (>= 1).
        seed: actor ``i`` gets ``seed + i * 10007`` (plus ``1000003`` per restart).
        num_cpus_per_actor: CPUs Ray reserves for each actor.
        timeout_s: seconds :meth:`collect` waits for the actors before raising
            :class:`TimeoutError` (the first call includes starting the actors).
        max_restarts: restarts allowed per actor; one more death raises ``RuntimeError``.
        torch_threads: ``torch.set_num_threads`` inside each actor.
        ray_init: keyword arguments of ``ray.init`` when Ray is not initialised yet
            (``{}``: a local Ray, or the cluster named by ``RAY_ADDRESS``).

    Example:
        >>> pool = RayActorPool(make_worker, num_actors=2)
        >>> pool.set_weights(policy.get_weights(), version=0)
        >>> results = pool.collect({"env_step": 0})  # one ActorResult per live actor
        >>> pool.shutdown()
    """

    def __init__(
        self,
        make_worker: Callable[[int, int], SelfPlayWorker],
        num_actors: int,
        *,
        seed: int = 0,
        num_cpus_per_actor: float = 1.0,
        timeout_s: float = 300.0,
        max_restarts: int = 3,
        torch_threads: int = 1,
        ray_init: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(num_actors, bool) or not isinstance(num_actors, int) or num_actors < 1:
            raise ValueError(f"RayActorPool: num_actors must be an int >= 1, got {num_actors!r}")
        if not timeout_s > 0:
            raise ValueError(f"RayActorPool: timeout_s must be > 0 seconds, got {timeout_s!r}")
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < 0:
            raise ValueError(
                f"RayActorPool: max_restarts must be an int >= 0, got {max_restarts!r}"
            )
        if not num_cpus_per_actor >= 0:
            raise ValueError(
                f"RayActorPool: num_cpus_per_actor must be >= 0, got {num_cpus_per_actor!r}"
            )
        self.make_worker = make_worker
        self.num_actors = num_actors
        self.seed = int(seed)
        self.num_cpus_per_actor = float(num_cpus_per_actor)
        self.timeout_s = float(timeout_s)
        self.max_restarts = max_restarts
        self.torch_threads = int(torch_threads)
        self.ray_init = dict(ray_init or {})
        #: restarts done per actor
        self.restarts = [0] * num_actors
        self._ray: Any = None
        self._owns_ray = False
        self._actor_class: Any = None
        self._actors: list[Any] = []
        self._sent_version = [-1] * num_actors  # newest version each actor was sent
        self._inflight: dict[Any, int] = {}  # ObjectRef -> actor index
        self._lock = threading.Lock()
        self._weights: tuple[int, Any] | None = None  # (version, ObjectRef)

    # ----------------------------------------------------------------------------- life
    @property
    def started(self) -> bool:
        return bool(self._actors)

    @property
    def actors(self) -> list[Any]:
        """The live actor handles, by index (a restart replaces the handle)."""
        return list(self._actors)

    def start(self) -> None:
        """Initialise Ray if needed and create the actors (idempotent)."""
        if self._actors:
            return
        ray = self._ray = import_ray()
        if not ray.is_initialized():
            init_local_ray(**self.ray_init)
            self._owns_ray = True
        cpus = float(ray.cluster_resources().get("CPU", 0.0))
        wanted = self.num_actors * self.num_cpus_per_actor
        if wanted > cpus:
            logger.warning(
                "RayActorPool: %d actors x %g CPUs = %g CPUs, but the Ray cluster has %g; the "
                "extra actors wait for CPUs (collect() then times out after %g s). Lower "
                "num_cpus_per_actor or the number of actors, or add nodes",
                self.num_actors,
                self.num_cpus_per_actor,
                wanted,
                cpus,
                self.timeout_s,
            )
        self._actor_class = ray.remote(num_cpus=self.num_cpus_per_actor)(_ActorHost)
        self._actors = [self._new_actor(i) for i in range(self.num_actors)]
        logger.info("RayActorPool: %d actors started", self.num_actors)

    def _new_actor(self, index: int) -> Any:
        seed = self.seed + index * ACTOR_SEED_STRIDE + self.restarts[index] * RESTART_SEED_STRIDE
        self._sent_version[index] = -1
        return self._actor_class.remote(self.make_worker, index, seed, self.torch_threads)

    def shutdown(self) -> None:
        """Kill the actors (and Ray itself if this pool started it)."""
        if self._ray is None:
            return
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors, self._inflight = [], {}
        if self._owns_ray:
            self._ray.shutdown()
            self._owns_ray = False

    # -------------------------------------------------------------------------- weights
    def set_weights(self, weights: Any, version: int) -> None:
        """Make ``weights`` (version ``version``, increasing) the ones actors load with their
        next request. Stored once in Ray's object store; safe from any thread."""
        ray = self._ray if self._ray is not None else import_ray()
        with self._lock:
            if self._weights is not None and version <= self._weights[0]:
                raise ValueError(
                    f"RayActorPool.set_weights: version {version} is not newer than "
                    f"{self._weights[0]}; versions must increase (use train_iter)"
                )
        ref = ray.put(weights)
        with self._lock:
            self._weights = (int(version), ref)

    @property
    def weight_version(self) -> int:
        """Version of the newest weights set (``-1``: none)."""
        with self._lock:
            return -1 if self._weights is None else self._weights[0]

    # -------------------------------------------------------------------------- collect
    def _submit(self, index: int, request: Mapping[str, Any]) -> None:
        with self._lock:
            version, ref = self._weights if self._weights is not None else (-1, None)
        send = ref if version > self._sent_version[index] else None
        if send is not None:
            self._sent_version[index] = version
        future = self._actors[index].run.remote(version, send, dict(request))
        self._inflight[future] = index

    def collect(
        self, request: Mapping[str, Any] | None = None, *, prefetch: bool = True
    ) -> list[ActorResult]:
        """Wait for the actors' answers and return them (one per live actor, by index).

        With ``prefetch`` (default) every actor keeps one request in flight: this call waits
        for the requests sent by the previous call and sends ``request`` again at once, so the
        actors play while the caller trains, on weights one call older. Without it, this call
        sends ``request`` to every actor and waits for those answers (fresh weights, but the
        caller idles meanwhile). With nothing in flight (the first call, or after a call
        without prefetch) the call sends ``request`` and waits. An actor that died is
        restarted; its lost request yields no result this call.

        Raises:
            TimeoutError: some actors did not answer within ``timeout_s``.
            RuntimeError: a worker raised (re-raised with the actor index), or an actor died
                more than ``max_restarts`` times.
        """
        request = dict(request or {})
        self.start()
        ray = self._ray
        if not self._inflight:
            for i in range(self.num_actors):
                self._submit(i, request)
        pending = list(self._inflight)
        ready, not_ready = ray.wait(pending, num_returns=len(pending), timeout=self.timeout_s)
        if not_ready:
            late = sorted(self._inflight[f] for f in not_ready)
            raise TimeoutError(
                f"RayActorPool: actors {late} did not answer within {self.timeout_s:g} s. "
                f"Check `ray status` (not enough CPUs for {self.num_actors} actors x "
                f"{self.num_cpus_per_actor:g}?) and the actors' logs, or raise timeout_s"
            )
        results: list[ActorResult] = []
        for future in ready:
            index = self._inflight.pop(future)
            try:
                results.append(ray.get(future))
            except ray.exceptions.RayActorError as exc:
                self._restart(index, exc)
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if exc.cause is not None else exc
                raise RuntimeError(
                    f"RayActorPool: actor {index} failed: {type(cause).__name__}: {cause} "
                    f"(the actor's traceback is chained below)"
                ) from exc
            if prefetch:
                self._submit(index, request)
        results.sort(key=lambda r: r.actor)
        return results

    def _restart(self, index: int, exc: BaseException) -> None:
        if self.restarts[index] >= self.max_restarts:
            raise RuntimeError(
                f"RayActorPool: actor {index} died again after {self.restarts[index]} "
                f"restarts (max_restarts={self.max_restarts}); last error: {exc}"
            ) from exc
        self.restarts[index] += 1
        logger.warning(
            "RayActorPool: actor %d died (%s); restart %d of %d",
            index,
            type(exc).__name__,
            self.restarts[index],
            self.max_restarts,
        )
        self._ray.kill(self._actors[index])
        self._actors[index] = self._new_actor(index)
