"""ray_collect: self-play on Ray actors, a drop-in replacement for ``env_collect``."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from pipezero.data import GameSegment
from pipezero.distributed.ray_collector import RayActorPool
from pipezero.envs import BatchEnv
from pipezero.framework import Event, Middleware, Task, TrainContext, middleware, run_step
from pipezero.policy.base import PolicyProtocol

__all__ = ["SelfPlayActorWorker", "ray_collect"]

logger = logging.getLogger(__name__)

CollectorFactory = Callable[[Mapping[str, Any], PolicyProtocol, BatchEnv], Middleware]


class SelfPlayActorWorker:
    """What each Ray actor runs: its own policy copy, environments and collector middleware.

    Built inside the actor's process. ``collector(cfg, policy, envs)`` is the in-process
    collector middleware (``env_collect``), run on a private context: it is never added to a
    task, so it neither subscribes to a weight store nor emits events; weights arrive through
    :meth:`set_weights`.

    Args:
        collector: the collector middleware factory, e.g. ``env_collect``.
        cfg: the policy section given to the collector.
        make_policy: ``make_policy(seed) -> policy`` (acting only; it never learns).
        make_envs: ``make_envs(seed=seed) -> BatchEnv``.
        seed: this actor's seed (policy sampling, search noise, environments).
    """

    def __init__(
        self,
        collector: CollectorFactory,
        cfg: Mapping[str, Any],
        make_policy: Callable[[int], PolicyProtocol],
        make_envs: Callable[..., BatchEnv],
        seed: int,
    ) -> None:
        self.policy = make_policy(seed)
        self.envs = make_envs(seed=seed)
        self.step = collector(cfg, self.policy, self.envs)

    def set_weights(self, weights: Any) -> None:
        self.policy.set_weights(weights)

    def collect(self, env_step: int = 0) -> dict[str, Any]:
        """One call of the collector; ``env_step`` is the learner's count (temperature
        schedules follow it). Returns ``segments``, ``env_steps``, ``episodes`` and
        ``episode_returns`` of this call."""
        ctx = TrainContext(env_step=env_step)
        run_step([self.step], ctx)
        return {
            "segments": list(ctx.new_segments),
            "env_steps": ctx.env_step - env_step,
            "episodes": ctx.env_episode,
            "episode_returns": list(ctx.collect_episode_returns),
        }


class _PolicyCopy:
    """``make_policy(seed)`` for actors: a new policy of the learner's class, config and
    architecture (the weights follow by broadcast). Picklable."""

    def __init__(self, policy: Any) -> None:
        self.policy_class = type(policy)
        self.cfg = policy.cfg
        self.model = copy.deepcopy(policy.model).to("cpu")

    def __call__(self, seed: int) -> Any:
        return self.policy_class(self.cfg, copy.deepcopy(self.model), seed=seed)


class _WorkerFactory:
    """``make_worker(actor_index, seed)`` of the pool (picklable)."""

    def __init__(
        self,
        collector: CollectorFactory,
        cfg: Mapping[str, Any],
        make_policy: Callable[[int], PolicyProtocol],
        make_envs: Callable[..., BatchEnv],
    ) -> None:
        self.args = (collector, cfg, make_policy, make_envs)

    def __call__(self, index: int, seed: int) -> SelfPlayActorWorker:
        return SelfPlayActorWorker(*self.args, seed=seed)


class _RayCollector:
    """State of one ``ray_collect``: the pool, the task, the last weights broadcast."""

    def __init__(
        self,
        policy: PolicyProtocol,
        pool: RayActorPool,
        weight_sync_freq: int,
        prefetch: bool,
    ) -> None:
        self.policy = policy
        self.pool = pool
        self.weight_sync_freq = weight_sync_freq
        self.prefetch = prefetch
        self.task: Task | None = None
        self.last_sync = -1
        self.first_version = 0

    def setup(self, task: Task) -> None:
        self.task = task
        self.first_version = task.ctx.train_iter  # a resumed run's weights are that version
        task.on(Event.POLICY_UPDATED, self.on_policy_updated)
        task.on(Event.FINISH, lambda ctx, reason: self.pool.shutdown())
        task.on(Event.ERROR, lambda ctx, exc: self.pool.shutdown())

    def broadcast(self, train_iter: int) -> None:
        if train_iter <= self.last_sync:
            return
        self.pool.set_weights(self.policy.get_weights(), version=train_iter)
        self.last_sync = train_iter

    def on_policy_updated(self, ctx: TrainContext, train_iter: int) -> None:
        if train_iter - self.last_sync >= self.weight_sync_freq:
            self.broadcast(train_iter)

    def step(self, ctx: TrainContext) -> None:
        if not self.pool.started:
            self.broadcast(self.first_version)
        start = time.perf_counter()
        results = self.pool.collect({"env_step": ctx.env_step}, prefetch=self.prefetch)
        waited = time.perf_counter() - start
        segments: list[GameSegment] = []
        returns: list[float] = []
        for result in results:
            out = result.value
            for segment in out["segments"]:
                segment.weight_version = result.weight_version
            segments += out["segments"]
            returns += out["episode_returns"]
            ctx.env_step += int(out["env_steps"])
            ctx.env_episode += int(out["episodes"])
        if results:
            lag = [self.pool.weight_version - r.weight_version for r in results]
            logger.debug(
                "ray_collect: %d results, %d segments, waited %.3f s, policy lag %s iterations",
                len(results),
                len(segments),
                waited,
                lag,
            )
        ctx.collect_episode_returns = returns
        ctx.new_segments = segments
        if self.task is not None:
            self.task.emit(Event.NEW_DATA, ctx, segments)


def ray_collect(
    cfg: Mapping[str, Any],
    policy: PolicyProtocol,
    make_envs: Callable[..., BatchEnv],
    *,
    collector: CollectorFactory,
    num_actors: int,
    seed: int = 0,
    weight_sync_freq: int = 1,
    prefetch: bool = True,
    make_policy: Callable[[int], PolicyProtocol] | None = None,
    num_cpus_per_actor: float = 1.0,
    timeout_s: float = 300.0,
    max_restarts: int = 3,
    ray_init: Mapping[str, Any] | None = None,
) -> Middleware:
    """Collect with ``num_actors`` Ray actors instead of in this process; the ctx contract of
    ``env_collect``, so a recipe swaps one line::

        task.use(env_collect(p, policy, collect_envs))
        task.use(ray_collect(p, policy, partial(BatchEnv.make, env_id, n), collector=env_collect,
                             num_actors=4, seed=cfg.seed))

    Each actor builds its own environments (``make_envs(seed=...)``), its own acting copy of
    the policy and its own ``collector(cfg, policy, envs)`` middleware, and runs one collector
    call per request. With ``prefetch`` (default) each actor keeps one request in flight, so
    the actors play while the learner trains, on weights one step older; without it each step
    asks every actor and waits (fresh weights, the learner idles meanwhile). Each step writes
    the segments returned to ``ctx.new_segments`` (every segment carries
    ``weight_version``: the ``train_iter`` of the weights that played it), their episode
    returns to ``ctx.collect_episode_returns``, adds their environment steps and finished
    episodes to ``ctx.env_step`` / ``ctx.env_episode`` and emits ``Event.NEW_DATA``.

    Weights: on the first step, and then on ``Event.POLICY_UPDATED`` once ``weight_sync_freq``
    iterations passed since the last broadcast, ``policy.get_weights()`` is put into Ray's
    object store once; each actor loads it with its next request. The pool shuts down on
    ``Event.FINISH`` and ``Event.ERROR``.

    A dead actor is restarted (at most ``max_restarts`` times each) and collection goes on;
    a request unanswered for ``timeout_s`` seconds raises ``TimeoutError``.

    Args:
        cfg: the policy section, given to ``collector`` inside each actor.
        policy: the learner's policy: its weights are broadcast, and (without
            ``make_policy``) its class, ``cfg`` and a CPU copy of its ``model`` build the
            actors' copies as ``type(policy)(policy.cfg, model, seed=seed)``.
        make_envs: ``make_envs(seed=seed) -> BatchEnv``, picklable (e.g.
            ``functools.partial(BatchEnv.make, "CartPole-v0", 8)``).
        collector: the collector middleware factory run in the actors (``env_collect``).
        num_actors: Ray actors (>= 1).
        seed: actor ``i`` uses ``seed + 10007 * i`` (a restart adds ``1000003``).
        weight_sync_freq: ``K``, train iterations between weight broadcasts (>= 1).
        prefetch: keep a request in flight per actor between steps (see above).
        make_policy: ``make_policy(seed) -> policy`` for policies whose constructor differs
            from ``(cfg, model, seed=...)``; picklable.
        num_cpus_per_actor: CPUs Ray reserves per actor.
        timeout_s: seconds to wait for the actors before failing.
        max_restarts: restarts allowed per actor.
        ray_init: ``ray.init`` keyword arguments when Ray is not running yet (default: a
            local Ray, or the cluster in ``RAY_ADDRESS``).
    """
    if (
        isinstance(weight_sync_freq, bool)
        or not isinstance(weight_sync_freq, int)
        or weight_sync_freq < 1
    ):
        raise ValueError(
            f"ray_collect: weight_sync_freq must be an int >= 1 (train iterations between "
            f"weight broadcasts), got {weight_sync_freq!r}"
        )
    if not callable(collector):
        raise TypeError(
            f"ray_collect: collector must be a collector middleware factory such as "
            f"env_collect, got {collector!r}"
        )
    policy_factory = make_policy if make_policy is not None else _PolicyCopy(policy)
    pool = RayActorPool(
        _WorkerFactory(collector, cfg, policy_factory, make_envs),
        num_actors,
        seed=seed,
        num_cpus_per_actor=num_cpus_per_actor,
        timeout_s=timeout_s,
        max_restarts=max_restarts,
        ray_init=ray_init,
    )
    state = _RayCollector(policy, pool, weight_sync_freq, bool(prefetch))
    return middleware(
        state.step,
        name="ray_collect",
        role="collector",
        reads=("env_step",),
        writes=("new_segments", "collect_episode_returns", "env_step", "env_episode"),
        setup=state.setup,
    )
