"""WeightStore: strictly increasing versions, pulls, staleness bound."""

from __future__ import annotations

import threading
import time

import pytest

from pipezero.framework import WeightStore


def test_versions_must_increase_strictly() -> None:
    store = WeightStore()
    with pytest.raises(LookupError, match="no weights published yet"):
        store.latest()
    assert store.version is None
    store.publish("w1", version=1)
    store.publish("w5", version=5)
    for bad in (5, 3):
        with pytest.raises(ValueError, match=f"got {bad} after 5"):
            store.publish("old", version=bad)
    assert store.latest() == (5, "w5")


def test_subscriber_pulls_only_newer_weights() -> None:
    store = WeightStore()
    sub = store.subscribe("collector")
    assert sub.pull() is None and sub.version is None
    store.publish("a", 1)
    store.publish("b", 2)
    assert sub.staleness == 2
    assert sub.pull() == (2, "b")
    assert sub.pull() is None
    assert (sub.version, sub.staleness) == (2, 0)
    store.publish("c", 3)
    assert sub.staleness == 1


def test_subscriber_names_are_unique_and_closed_subscribers_refuse_pulls() -> None:
    store = WeightStore()
    sub = store.subscribe("eval", bounded=False)
    with pytest.raises(ValueError, match="'eval' exists already"):
        store.subscribe("eval")
    sub.close()
    with pytest.raises(RuntimeError, match="closed"):
        sub.pull()


def test_max_staleness_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_staleness"):
        WeightStore(max_staleness=0)


def _publish_in_thread(store: WeightStore, versions: range) -> tuple[threading.Thread, list[int]]:
    done: list[int] = []

    def publisher() -> None:
        for v in versions:
            store.publish(f"w{v}", v)
            done.append(v)

    t = threading.Thread(target=publisher, daemon=True)
    t.start()
    return t, done


def test_publish_waits_for_a_lagging_bounded_subscriber() -> None:
    store = WeightStore(max_staleness=2)
    sub = store.subscribe("collector")
    store.publish("w0", 0)
    assert sub.pull() == (0, "w0")
    t, done = _publish_in_thread(store, range(1, 10))
    deadline = time.monotonic() + 5
    while len(done) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.1)  # give the publisher every chance to run ahead (it must not)
    assert done == [1, 2] and sub.staleness == 2
    assert sub.pull() == (2, "w2")
    deadline = time.monotonic() + 5
    while len(done) < 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)
    assert done == [1, 2, 3, 4]
    store.interrupt()  # lifts the bound: the publisher runs to the end
    t.join(timeout=5)
    assert not t.is_alive() and done == list(range(1, 10))


def test_staleness_bound_holds_while_weights_are_used() -> None:
    store = WeightStore(max_staleness=3)
    sub = store.subscribe("collector")
    observed: list[int] = []
    versions: list[int] = []
    store.publish("w0", 0)
    t, _ = _publish_in_thread(store, range(1, 200))

    while t.is_alive() or sub.staleness:
        got = sub.pull()
        if got is not None:
            versions.append(got[0])
        observed.append(sub.staleness)  # right after pulling
        time.sleep(0.0005)  # "using" the weights
        observed.append(sub.staleness)  # at the end of the use
    t.join(timeout=5)
    assert max(observed) <= 3
    assert versions == sorted(set(versions)) and versions[-1] == 199


def test_unbounded_closed_and_released_subscribers_never_block() -> None:
    store = WeightStore(max_staleness=1)
    free = store.subscribe("evaluator", bounded=False)
    closed = store.subscribe("closed")
    released = store.subscribe("released")
    store.publish("w0", 0)
    free.pull()

    def pull_elsewhere() -> None:
        closed.pull()
        released.pull()

    t = threading.Thread(target=pull_elsewhere)
    t.start()
    t.join()
    closed.close()
    store.release_thread(t.ident or 0)
    t2, done = _publish_in_thread(store, range(1, 20))
    t2.join(timeout=5)
    assert not t2.is_alive() and len(done) == 19


def test_idle_subscriber_thread_does_not_hold_back_the_publisher() -> None:
    store = WeightStore(max_staleness=1)
    sub = store.subscribe("collector")
    store.publish("w0", 0)
    in_idle = threading.Event()
    leave = threading.Event()

    def runner() -> None:
        sub.pull()
        with store.idle():  # e.g. waiting on a full channel between steps
            in_idle.set()
            leave.wait(5)

    t = threading.Thread(target=runner)
    t.start()
    in_idle.wait(5)
    for v in range(1, 6):
        store.publish(f"w{v}", v)  # would block at v=2 if the subscriber were active
    leave.set()
    t.join(timeout=5)
    assert sub.staleness == 5
