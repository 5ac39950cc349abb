"""Event bus: order, once, off, error propagation, thread safety."""

from __future__ import annotations

import threading

import pytest

from pipezero.framework import Event, EventBus, Task, TrainContext


def test_handlers_run_in_registration_order_with_arguments() -> None:
    bus = EventBus()
    calls: list[tuple[str, object]] = []
    bus.on(Event.NEW_DATA, lambda ctx, data: calls.append(("a", data)))
    bus.on(Event.NEW_DATA, lambda ctx, data: calls.append(("b", data)))
    assert bus.emit(Event.NEW_DATA, None, 7) == 2
    assert calls == [("a", 7), ("b", 7)]


def test_event_member_and_its_string_are_the_same_event() -> None:
    bus = EventBus()
    got: list[str] = []
    bus.on("eval_done", lambda: got.append("str"))
    bus.on(Event.EVAL_DONE, lambda: got.append("member"))
    bus.emit(Event.EVAL_DONE)
    bus.emit("eval_done")
    assert got == ["str", "member", "str", "member"]


def test_free_form_user_events() -> None:
    bus = EventBus()
    got: list[int] = []
    bus.on("my_metric", got.append)
    bus.emit("my_metric", 3)
    bus.emit("other_metric", 4)
    assert got == [3]


def test_once_is_called_a_single_time() -> None:
    bus = EventBus()
    got: list[str] = []
    bus.once("tick", lambda: got.append("once"))
    bus.on("tick", lambda: got.append("always"))
    bus.emit("tick")
    bus.emit("tick")
    assert got == ["once", "always", "always"]


def test_off_removes_one_or_all_handlers() -> None:
    bus = EventBus()
    got: list[str] = []

    def a() -> None:
        got.append("a")

    def b() -> None:
        got.append("b")

    bus.on("e", a)
    bus.on("e", b)
    assert bus.off("e", a) is True
    assert bus.off("e", a) is False
    bus.emit("e")
    bus.on("e", a)
    assert bus.off("e") is True
    bus.emit("e")
    assert got == ["b"]


def test_off_works_with_bound_methods() -> None:
    class Listener:
        def __init__(self) -> None:
            self.count = 0

        def handle(self) -> None:
            self.count += 1

    bus = EventBus()
    listener = Listener()
    bus.on("e", listener.handle)
    assert bus.off("e", listener.handle)
    bus.emit("e")
    assert listener.count == 0


def test_handler_error_propagates_at_once_and_skips_later_handlers() -> None:
    bus = EventBus()
    got: list[str] = []

    def boom() -> None:
        raise KeyError("bad handler")

    bus.on("e", boom)
    bus.on("e", lambda: got.append("later"))
    with pytest.raises(KeyError, match="bad handler"):
        bus.emit("e")
    assert got == []


def test_handler_registered_during_emit_applies_from_next_emit() -> None:
    bus = EventBus()
    got: list[str] = []
    bus.on("e", lambda: bus.on("e", lambda: got.append("new")))
    bus.emit("e")
    assert got == []
    bus.emit("e")
    assert got == ["new"]


def test_once_handler_runs_once_under_concurrent_emits() -> None:
    bus = EventBus()
    count = [0]
    lock = threading.Lock()

    def handler() -> None:
        with lock:
            count[0] += 1

    bus.once("e", handler)
    barrier = threading.Barrier(8)

    def emitter() -> None:
        barrier.wait()
        for _ in range(50):
            bus.emit("e")

    threads = [threading.Thread(target=emitter) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count[0] == 1


def test_bad_event_names_and_handlers_are_rejected() -> None:
    bus = EventBus()
    with pytest.raises(TypeError, match="event name"):
        bus.on("", print)
    with pytest.raises(TypeError, match="must be callable"):
        bus.on("e", 3)  # type: ignore[arg-type]


def test_task_reserves_finish_and_forwards_other_events() -> None:
    task = Task(TrainContext())
    got: list[int] = []
    task.on(Event.POLICY_UPDATED, lambda ctx, it: got.append(it))
    task.emit(Event.POLICY_UPDATED, task.ctx, 4)
    assert got == [4]
    with pytest.raises(ValueError, match=r"task\.finish"):
        task.emit(Event.FINISH, task.ctx, "x")
    with pytest.raises(ValueError, match=r"task\.finish"):
        task.emit("finish", task.ctx, "x")
