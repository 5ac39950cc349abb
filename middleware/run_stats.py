"""run_stats: where a run's time and memory went, for its result line.

``run_stats`` sums the seconds of every middleware (``ctx.timings``) over the run into
``ctx.middleware_seconds`` and, when the run finishes, puts the replay buffer's
``memory_report()`` in ``ctx.buffer_memory``; :func:`stats_summary` turns them into the
entries of a recipe's ``summary(run, ctx)``: the seconds, env steps per second of collection
and train steps per second of learning. The fields are persistent, so a resumed run goes on
summing (its speeds stay those of the whole run).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from pipezero.framework import Event, Middleware, Task, TrainContext, middleware, persistent

__all__ = ["StatsContext", "run_stats", "stats_summary"]


@dataclasses.dataclass
class StatsContext(TrainContext):
    """:class:`TrainContext` plus the statistics ``run_stats`` writes (combine it with
    another context by inheriting from both).

    Attributes:
        middleware_seconds: persistent; seconds each middleware spent, summed over the run.
        buffer_memory: persistent; the buffer's ``memory_report()`` at the end of the run
            (empty without a buffer).
    """

    middleware_seconds: dict[str, float] = persistent(default_factory=dict)
    buffer_memory: dict[str, float] = persistent(default_factory=dict)


def run_stats(buffer: Any = None) -> Middleware:
    """Sum ``ctx.timings`` into ``ctx.middleware_seconds`` after every step; at
    ``Event.FINISH`` write ``buffer.memory_report()`` (a buffer that has one, e.g.
    :class:`~pipezero.data.frame_store.FrameReplayBuffer`) to ``ctx.buffer_memory``.

    Place it first in the chain: its post-yield part then runs after every other
    middleware's has been timed. It is a learner-role middleware: in async mode it sums the
    learner's middleware only (the other roles time theirs in their own contexts).
    """
    if buffer is not None and not callable(getattr(buffer, "memory_report", None)):
        raise TypeError(f"run_stats: {type(buffer).__name__} has no memory_report()")

    def add(ctx: StatsContext) -> Iterator[None]:
        yield
        totals = ctx.middleware_seconds
        for name, seconds in ctx.timings.items():
            totals[name] = totals.get(name, 0.0) + seconds

    def report(ctx: StatsContext, reason: Any = None) -> None:
        ctx.buffer_memory = buffer.memory_report()

    def setup(task: Task) -> None:
        if buffer is not None:
            task.on(Event.FINISH, report)

    fields = ("middleware_seconds",)
    reads = ("timings", *fields)
    return middleware(
        add, name="run_stats", role="learner", reads=reads, writes=fields, setup=setup
    )


def stats_summary(
    ctx: StatsContext, collect: str = "env_collect", learn: str = "offpolicy_learn"
) -> dict[str, Any]:
    """``middleware_seconds`` (rounded), ``env_steps_per_s`` (``ctx.env_step`` over the
    ``collect`` middleware's seconds), ``train_steps_per_s`` (``ctx.train_iter`` over
    ``learn``'s) and ``buffer_memory``. A speed is left out when its middleware never ran
    in this context (an async run times collection in the collector's)."""
    seconds = ctx.middleware_seconds
    out: dict[str, Any] = {"middleware_seconds": {k: round(v, 3) for k, v in seconds.items()}}
    for key, name, count in (
        ("env_steps_per_s", collect, ctx.env_step),
        ("train_steps_per_s", learn, ctx.train_iter),
    ):
        if seconds.get(name, 0.0) > 0:
            out[key] = count / seconds[name]
    return out | {"buffer_memory": ctx.buffer_memory}
