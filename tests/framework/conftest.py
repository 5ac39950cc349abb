"""Shared fixtures of the framework tests."""

from __future__ import annotations

import faulthandler
import signal
import threading
import time
from collections.abc import Iterator

import pytest


def engine_threads() -> list[threading.Thread]:
    """Runner threads of the engine still alive."""
    return [t for t in threading.enumerate() if t.name.startswith("pipezero-")]


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    """Every test must leave no runner thread behind (checked by liveness, generous limit).

    A test that hangs (a deadlock in the engine) dumps every thread's stack and ends the
    process after 60 s instead of blocking the suite forever.
    """
    faulthandler.dump_traceback_later(60, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
    deadline = time.monotonic() + 5.0
    while engine_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine_threads() == [], "runner threads left behind"


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in this process during the test, as in a terminal.

    A process started in the background by a non-interactive shell inherits SIGINT ignored,
    and then a simulated Ctrl-C would do nothing (the run under test would never stop).
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
