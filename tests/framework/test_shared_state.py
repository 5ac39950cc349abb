"""Shared state for runner processes: survives dead waiters, refuses oversize values."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from pipezero.framework import WeightStore
from pipezero.framework.shared import SharedBlob, SharedCondition, SharedFlag, SharedState

MP = multiprocessing.get_context("fork")


def test_notify_does_not_hang_after_a_waiter_died() -> None:
    """multiprocessing.Condition.notify would wait forever for the killed sleeper."""
    cond = SharedCondition(MP)

    def wait_forever() -> None:
        with cond:
            cond.wait(60)

    child = MP.Process(target=wait_forever, daemon=True)
    child.start()
    time.sleep(0.2)  # the child is asleep in wait()
    os.kill(child.pid, signal.SIGKILL)
    child.join(5)
    start = time.monotonic()
    with cond:
        cond.notify_all()
    assert time.monotonic() - start < 1.0


def test_waiters_in_another_process_wake_on_notify() -> None:
    state = SharedState(MP, {"n": 0})
    flag = SharedFlag(MP)

    def bump_later() -> None:
        time.sleep(0.1)
        with state.cond:
            state.store({"n": 1})
            state.cond.notify_all()
        flag.set()

    child = MP.Process(target=bump_later, daemon=True)
    child.start()
    with state.cond:
        while state.load()["n"] == 0:
            state.cond.wait(5)
    assert flag.wait(5) and flag.is_set()
    child.join(5)


def test_values_that_do_not_fit_are_refused_with_the_sizes() -> None:
    blob = SharedBlob(1024, "tiny store")
    too_big = r"tiny store: the pickled weights need 2048 bytes .* holds 1016 bytes"
    with pytest.raises(ValueError, match=too_big):
        blob.write(b"x" * 2048, "weights")
    store = WeightStore()
    store.share(MP, weights_capacity=4096)
    with pytest.raises(ValueError, match="weights_capacity_mb"):
        store.publish(b"y" * 10_000, version=1)
    store.publish({"w": [1, 2, 3]}, version=2)
    assert store.latest() == (2, {"w": [1, 2, 3]})


def test_a_shared_store_keeps_its_subscribers_and_weights() -> None:
    store = WeightStore(max_staleness=1)
    sub = store.subscribe("collector")
    store.publish("w1", 1)
    store.share(MP)
    assert store.shared and store.latest() == (1, "w1")
    assert sub.pull() == (1, "w1") and sub.pull() is None

    def publish_in_child() -> None:
        store.publish("w2", 2)

    child = MP.Process(target=publish_in_child, daemon=True)
    child.start()
    child.join(5)
    assert sub.staleness == 1 and sub.pull() == (2, "w2")
