"""Finishing: FINISH delivery whatever the listener's position, max_steps, Ctrl-C."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipezero.framework import Event, Middleware, Task, TrainContext, middleware


def saver(saved: list[tuple[str, int]]) -> Middleware:
    """A checkpointer-like middleware: writes a 'final checkpoint' on FINISH."""

    def save(ctx: TrainContext) -> None:
        """Periodic saving would happen here."""

    def setup(task: Task) -> None:
        task.on(Event.FINISH, lambda ctx, reason: saved.append((reason, ctx.train_iter)))

    return middleware(save, name="saver", role="learner", reads=("train_iter",), setup=setup)


def stopper(at_iter: int) -> Middleware:
    """Calls task.finish once train_iter reaches ``at_iter``."""
    task_ref: dict[str, Task] = {}

    def stop(ctx: TrainContext) -> None:
        if ctx.train_iter >= at_iter:
            task_ref["task"].finish("target reached")

    return middleware(
        stop, name="stopper", reads=("train_iter",), setup=lambda t: task_ref.update(task=t)
    )


@middleware(role="learner", reads=("train_iter",), writes=("train_iter",))
def learn(ctx: TrainContext) -> None:
    ctx.train_iter += 1


@pytest.mark.parametrize("position", [0, 1, 2, 3])
def test_finish_is_delivered_once_whatever_the_listener_position(position: int) -> None:
    saved: list[tuple[str, int]] = []
    log: list[str] = []

    def tail(ctx: TrainContext) -> Iterator[None]:
        log.append("tail>")
        yield
        log.append("<tail")

    chain: list[object] = [learn, stopper(at_iter=3), tail]
    chain.insert(position, saver(saved))
    task = Task(TrainContext())
    for mw in chain:
        task.use(mw)  # type: ignore[arg-type]
    ctx = task.run()
    assert saved == [("target reached", 3)]
    assert (ctx.finish_reason, ctx.train_iter, ctx.task_step) == ("target reached", 3, 3)
    assert log == ["tail>", "<tail"] * 3  # the finishing step ran to its end, no step after


def test_first_finish_reason_wins() -> None:
    task = Task(TrainContext())
    task.use(lambda ctx: (task.finish("first"), task.finish("second")))
    assert task.run().finish_reason == "first"
    assert task.finished


def test_max_steps_delivers_finish() -> None:
    saved: list[tuple[str, int]] = []
    ctx = Task(TrainContext()).use(learn).use(saver(saved)).run(max_steps=4)
    assert saved == [("max_steps", 4)]
    assert ctx.finish_reason == "max_steps"


def test_keyboard_interrupt_finishes_gracefully() -> None:
    saved: list[tuple[str, int]] = []
    cleanup: list[str] = []

    def guarded(ctx: TrainContext) -> Iterator[None]:
        try:
            yield
        finally:
            cleanup.append("closed")

    @middleware(reads=("train_iter",), writes=("train_output",))
    def ctrl_c(ctx: TrainContext) -> None:
        ctx.train_output = "partial"
        if ctx.train_iter == 2:
            raise KeyboardInterrupt

    task = Task(TrainContext()).use(guarded).use(learn).use(ctrl_c).use(saver(saved))
    ctx = task.run(max_steps=10)
    assert ctx.finish_reason == "interrupted"
    assert saved == [("interrupted", 2)]
    assert cleanup == ["closed"] * 2
    assert ctx.train_output is None  # the interrupted step's per-step values are dropped


def test_finish_handler_error_propagates_from_run() -> None:
    task = Task(TrainContext()).use(learn)

    def broken(ctx: TrainContext, reason: str) -> None:
        raise OSError("disk full")

    task.on(Event.FINISH, broken)
    with pytest.raises(OSError, match="disk full"):
        task.run(max_steps=1)


def test_finish_before_run_runs_no_step() -> None:
    saved: list[tuple[str, int]] = []
    task = Task(TrainContext()).use(learn).use(saver(saved))
    task.finish("cancelled")
    assert task.run(max_steps=5).train_iter == 0
    assert saved == [("cancelled", 0)]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_middleware_error_delivers_error_event_then_propagates(mode: str) -> None:
    seen: list[tuple[int, str]] = []

    @middleware(role="collector", writes=("env_step",))
    def count(ctx: TrainContext) -> None:
        ctx.env_step += 1
        if ctx.env_step == 3:
            raise RuntimeError("env exploded")

    task = Task(TrainContext()).use(count)
    task.on(Event.ERROR, lambda ctx, exc: seen.append((ctx.env_step, str(exc))))
    finished: list[str] = []
    task.on(Event.FINISH, lambda ctx, reason: finished.append(reason))
    with pytest.raises(RuntimeError, match="env exploded"):
        task.run(mode=mode)
    assert seen == [(3, "env exploded")]
    assert finished == []


def test_failing_error_listener_does_not_hide_the_original_error() -> None:
    def boom(ctx: TrainContext) -> None:
        raise ValueError("original")

    def bad_listener(ctx: TrainContext, exc: Exception) -> None:
        raise OSError("disk full")

    task = Task(TrainContext()).use(boom)
    task.on(Event.ERROR, bad_listener)
    with pytest.raises(ValueError, match="original"):
        task.run()


def test_error_event_cannot_be_emitted_by_users() -> None:
    with pytest.raises(ValueError, match="delivered by the engine"):
        Task(TrainContext()).emit(Event.ERROR, None, None)


def test_finish_reason_is_public_and_none_until_finish() -> None:
    task = Task(TrainContext())
    assert task.finish_reason is None and not task.finished
    task.finish("enough")
    task.finish("later")
    assert task.finish_reason == "enough" and task.finished
