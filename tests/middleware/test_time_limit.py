"""time_limit: finish the task once a wall-clock budget is spent."""

from __future__ import annotations

import pytest
from pipezero.middleware.time_limit import time_limit

from pipezero.framework import Task, TrainContext, middleware


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_finishes_after_the_step_that_spends_the_budget() -> None:
    clock = FakeClock()

    @middleware(reads=("env_step",), writes=("env_step",))
    def work(ctx: TrainContext) -> None:
        ctx.env_step += 1
        clock.now += 4.0  # every step takes 4 "seconds"

    task = Task(TrainContext()).use(time_limit(10, clock=clock)).use(work)
    ctx = task.run(max_steps=100)
    assert ctx.env_step == 3  # 4 s, 8 s, 12 s >= 10 s: the third step completes, then stop
    assert ctx.finish_reason == "time_limit reached: 12 s >= 10 s"


def test_rejects_bad_budgets_and_use_outside_a_task() -> None:
    with pytest.raises(ValueError, match="max_seconds must be a number > 0, got 0"):
        time_limit(0)
    step = time_limit(1e-9)
    gen = step.fn(TrainContext())
    next(gen)
    with pytest.raises(RuntimeError, match="outside a task"):
        next(gen)
