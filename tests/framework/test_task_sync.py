"""Sync mode: onion ordering, renew between steps, timings, errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from pipezero.framework import (
    Event,
    Task,
    TrainContext,
    WeightStore,
    middleware,
    run_step,
)


def recorder(log: list[str], name: str, generator: bool) -> Callable[[TrainContext], object]:
    if generator:

        def gen(ctx: TrainContext) -> Iterator[None]:
            log.append(f"{name}>")
            yield
            log.append(f"<{name}")

        gen.__name__ = name
        return gen

    def plain(ctx: TrainContext) -> None:
        log.append(name)

    plain.__name__ = name
    return plain


def test_forwards_in_order_then_post_yields_in_reverse() -> None:
    log: list[str] = []
    task = Task(TrainContext())
    for name, gen in (("a", True), ("b", False), ("c", True), ("d", True), ("e", False)):
        task.use(recorder(log, name, gen))
    task.run(max_steps=2)
    one_step = ["a>", "b", "c>", "d>", "e", "<d", "<c", "<a"]
    assert log == one_step * 2


def test_renew_between_steps() -> None:
    seen: list[tuple[int, list[object], object]] = []

    @middleware(reads=("train_iter",), writes=("new_segments", "train_output", "train_iter"))
    def step(ctx: TrainContext) -> None:
        seen.append((ctx.train_iter, list(ctx.new_segments), ctx.train_output))
        ctx.new_segments.append(ctx.train_iter)
        ctx.train_output = {"loss": 1.0}
        ctx.train_iter += 1

    ctx = Task(TrainContext()).use(step).run(max_steps=3)
    assert seen == [(0, [], None), (1, [], None), (2, [], None)]
    assert (ctx.train_iter, ctx.task_step, ctx.new_segments, ctx.train_output) == (3, 3, [], None)


def test_post_yield_part_sees_fields_written_later_in_the_step() -> None:
    got: list[object] = []

    def logger(ctx: TrainContext) -> Iterator[None]:
        yield
        got.append(ctx.train_output)

    @middleware(writes=("train_output",))
    def learn(ctx: TrainContext) -> None:
        ctx.train_output = "out"

    Task(TrainContext()).use(logger).use(learn).run(max_steps=1)
    assert got == ["out"]


def test_timings_recorded_for_every_middleware() -> None:
    snapshots: list[dict[str, float]] = []

    def timing_logger(ctx: TrainContext) -> Iterator[None]:
        yield
        snapshots.append(dict(ctx.timings))

    def slow(ctx: TrainContext) -> None:
        time.sleep(0.02)

    def slow_post(ctx: TrainContext) -> Iterator[None]:
        yield
        time.sleep(0.02)

    task = Task(TrainContext()).use(timing_logger).use(slow).use(slow_post)
    ctx = task.run(max_steps=2)
    assert len(snapshots) == 2
    for snap in snapshots:
        assert set(snap) == {"timing_logger", "slow", "slow_post"}
        assert snap["slow"] >= 0.02 and snap["slow_post"] >= 0.02  # sleep is a lower bound
    assert ctx.timings == {}  # per-step field: renewed after the last step


def test_generator_without_yield_acts_as_plain() -> None:
    log: list[str] = []

    def maybe(ctx: TrainContext) -> Iterator[None]:
        log.append("ran")
        if False:
            yield

    Task(TrainContext()).use(maybe).run(max_steps=2)
    assert log == ["ran", "ran"]


def test_yielding_twice_is_an_error() -> None:
    def twice(ctx: TrainContext) -> Iterator[None]:
        yield
        yield

    with pytest.raises(RuntimeError, match="'twice' yielded more than once"):
        Task(TrainContext()).use(twice).run(max_steps=1)


def test_error_closes_entered_generators_and_skips_finish() -> None:
    log: list[str] = []
    finish: list[str] = []

    def outer(ctx: TrainContext) -> Iterator[None]:
        try:
            yield
            log.append("post")
        finally:
            log.append("cleanup")

    def boom(ctx: TrainContext) -> None:
        raise ZeroDivisionError("bad step")

    task = Task(TrainContext()).use(outer).use(boom)
    task.on(Event.FINISH, lambda ctx, reason: finish.append(reason))
    with pytest.raises(ZeroDivisionError, match="bad step"):
        task.run(max_steps=3)
    assert log == ["cleanup"]
    assert finish == []


def test_run_step_alone_runs_one_step_without_renew() -> None:
    ctx = TrainContext()

    @middleware(writes=("train_output",))
    def learn(c: TrainContext) -> None:
        c.train_output = 1

    run_step([learn], ctx)
    assert ctx.train_output == 1 and "learn" in ctx.timings


def test_max_steps_zero_runs_nothing_but_finishes() -> None:
    ran: list[int] = []
    reasons: list[str] = []
    task = Task(TrainContext()).use(lambda ctx: ran.append(1))
    task.on(Event.FINISH, lambda ctx, reason: reasons.append(reason))
    assert task.run(max_steps=0).finish_reason == "max_steps"
    assert ran == [] and reasons == ["max_steps"]


def test_bad_max_steps_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_steps"):
        Task(TrainContext()).use(lambda ctx: None).run(max_steps=-1)


def test_weight_store_never_blocks_in_sync_mode() -> None:
    store = WeightStore(max_staleness=1)
    task = Task(TrainContext(), weights=store)
    sub = task.weights.subscribe("collector")
    used: list[int] = []

    @middleware(role="collector")
    def collect(ctx: TrainContext) -> None:
        got = sub.pull()
        if got is not None:
            used.append(got[0])

    @middleware(role="learner", reads=("train_iter",), writes=("train_iter",))
    def learn(ctx: TrainContext) -> None:
        for _ in range(3):  # several publications per step, same thread as the subscriber
            ctx.train_iter += 1
            task.weights.publish({"w": ctx.train_iter}, version=ctx.train_iter)

    task.use(collect).use(learn).run(max_steps=4)
    assert used == [3, 6, 9]
    assert store.latest() == (12, {"w": 12})
