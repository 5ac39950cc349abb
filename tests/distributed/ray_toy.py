"""Toy workers for the Ray pool tests (sent to the actors by value, see the fixture)."""

from __future__ import annotations

import os
import time
from typing import Any


class EchoWorker:
    """Answers each request with its seed, call count, pid, request and the weights it holds;
    hangs for a minute when the request says ``hang_in=<its index>``."""

    def __init__(self, index: int, seed: int) -> None:
        self.index, self.seed = index, seed
        self.calls = 0
        self.weights: Any = None

    def set_weights(self, weights: Any) -> None:
        self.weights = weights

    def collect(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        if request.get("hang_in") == self.index:
            time.sleep(60.0)
        return {
            "seed": self.seed,
            "calls": self.calls,
            "pid": os.getpid(),
            "weights": self.weights,
            "request": request,
        }


def echo_worker(index: int, seed: int) -> EchoWorker:
    return EchoWorker(index, seed)


class FailingWorker(EchoWorker):
    def collect(self, **request: Any) -> dict[str, Any]:
        raise ValueError(f"environment exploded in actor {self.index}")


def failing_worker(index: int, seed: int) -> FailingWorker:
    return FailingWorker(index, seed)
