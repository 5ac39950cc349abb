"""time_limit: finish the run once a wall-clock budget is spent."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from pipezero.framework import Middleware, Task, TrainContext, middleware

__all__ = ["time_limit"]


def time_limit(max_seconds: float, clock: Callable[[], float] = time.monotonic) -> Middleware:
    """Call ``task.finish("time_limit reached: ...")`` after the first step that ends more
    than ``max_seconds`` after the first step started.

    The check runs after the whole chain (after ``yield``), so the step in progress always
    completes. Benchmarks use it to give every algorithm the same wall-clock budget.

    Args:
        max_seconds: budget in seconds (> 0).
        clock: time source (a test can pass a fake one).
    """
    if (
        isinstance(max_seconds, bool)
        or not isinstance(max_seconds, (int, float))
        or not (max_seconds > 0)
    ):
        raise ValueError(f"time_limit: max_seconds must be a number > 0, got {max_seconds!r}")
    state: dict[str, object] = {}

    def check(ctx: TrainContext) -> Iterator[None]:
        start = state.setdefault("start", clock())
        yield
        elapsed = clock() - start  # type: ignore[operator]
        if elapsed >= max_seconds:
            task = state.get("task")
            if not isinstance(task, Task):
                raise RuntimeError("time_limit was called outside a task; add it with task.use")
            task.finish(f"time_limit reached: {elapsed:.0f} s >= {max_seconds:.0f} s")

    return middleware(check, name="time_limit", setup=lambda task: state.update(task=task))
