"""Channel: FIFO, bounded blocking, close, stop flag."""

from __future__ import annotations

import threading
import time

import pytest

from pipezero.framework import Channel, ChannelClosed, StopRequested


def test_fifo_order_and_len() -> None:
    ch: Channel[int] = Channel(3)
    for i in range(3):
        ch.put(i)
    assert len(ch) == 3
    assert [ch.get() for _ in range(3)] == [0, 1, 2]


def test_put_on_full_and_get_on_empty_time_out() -> None:
    ch: Channel[int] = Channel(1, name="q")
    ch.put(1)
    with pytest.raises(TimeoutError, match=r"put on channel 'q' timed out.*1/1"):
        ch.put(2, timeout=0.01)
    assert ch.get() == 1
    with pytest.raises(TimeoutError, match="get on channel 'q' timed out"):
        ch.get(timeout=0.01)


def test_close_refuses_puts_and_drains_before_refusing_gets() -> None:
    ch: Channel[int] = Channel(2, name="data")
    ch.put(1)
    ch.close()
    ch.close()  # harmless
    with pytest.raises(ChannelClosed, match=r"cannot put on channel 'data': it is closed"):
        ch.put(2)
    assert ch.get() == 1
    with pytest.raises(
        ChannelClosed, match=r"cannot get on channel 'data': it is closed and empty"
    ):
        ch.get()


def test_close_wakes_a_blocked_reader() -> None:
    ch: Channel[int] = Channel(1)
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            ch.get()
        except ChannelClosed as exc:
            errors.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.02)
    ch.close()
    t.join(timeout=5)
    assert not t.is_alive() and len(errors) == 1


def test_stop_event_ends_blocking_waits() -> None:
    stop = threading.Event()
    stop.set()
    ch: Channel[int] = Channel(1)
    with pytest.raises(StopRequested):
        ch.get(stop=stop)
    ch.put(1, stop=stop)  # room available: a set stop flag does not refuse it
    with pytest.raises(StopRequested):
        ch.put(2, stop=stop)


def test_every_item_delivered_once_with_backpressure() -> None:
    ch: Channel[int] = Channel(2)
    got: list[int] = []

    def producer() -> None:
        for i in range(200):
            ch.put(i)
        ch.close()

    def consumer() -> None:
        while True:
            try:
                got.append(ch.get())
            except ChannelClosed:
                return
            if len(got) % 20 == 0:
                time.sleep(0.001)

    threads = [threading.Thread(target=producer), threading.Thread(target=consumer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert got == list(range(200))
    assert ch.high_water <= 2


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity must be an int >= 1"):
        Channel(0)
