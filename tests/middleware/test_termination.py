"""termination: finish the task when a budget is spent, naming the limit."""

from __future__ import annotations

import pytest
from mw_toy import fixed_updates, toy_collect
from pipezero.middleware import termination

from pipezero.framework import Middleware, Task, TrainContext, middleware


@middleware(role="collector", reads=("env_step",), writes=("env_step",))
def ten_env_steps(ctx: TrainContext) -> None:
    ctx.env_step += 10


@middleware(role="learner", reads=("train_iter",), writes=("train_iter",))
def three_updates(ctx: TrainContext) -> None:
    ctx.train_iter += 3


def run(stop: Middleware, position: int = 2, max_steps: int = 100) -> TrainContext:
    chain = [ten_env_steps, three_updates]
    chain.insert(position, stop)
    task = Task(TrainContext())
    for mw in chain:
        task.use(mw)
    return task.run(max_steps=max_steps)


def test_max_env_step() -> None:
    ctx = run(termination(max_env_step=35))
    assert (ctx.env_step, ctx.task_step) == (40, 4)
    assert ctx.finish_reason == "max_env_step reached: env_step 40 >= 35"


def test_max_train_iter() -> None:
    ctx = run(termination(max_train_iter=9))
    assert (ctx.train_iter, ctx.task_step) == (9, 3)
    assert ctx.finish_reason == "max_train_iter reached: train_iter 9 >= 9"


def test_both_limits_reached_in_the_same_step_are_both_named() -> None:
    ctx = run(termination(max_env_step=30, max_train_iter=9))
    assert ctx.finish_reason == (
        "max_env_step reached: env_step 30 >= 30; max_train_iter reached: train_iter 9 >= 9"
    )


def test_the_first_limit_reached_wins() -> None:
    ctx = run(termination(max_env_step=1000, max_train_iter=6))
    assert ctx.finish_reason == "max_train_iter reached: train_iter 6 >= 6"


@pytest.mark.parametrize("position", [0, 1, 2])
def test_same_last_step_wherever_it_sits(position: int) -> None:
    ctx = run(termination(max_env_step=20), position=position)
    assert (ctx.env_step, ctx.task_step) == (20, 2)


def test_zero_budget_finishes_after_one_step() -> None:
    ctx = run(termination(max_env_step=0))
    assert ctx.task_step == 1


def test_with_real_collection() -> None:
    task = Task(TrainContext()).use(toy_collect()).use(fixed_updates(1))
    ctx = task.use(termination(max_env_step=12)).run(max_steps=100)
    assert ctx.env_step >= 12
    assert ctx.finish_reason.startswith("max_env_step reached")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "termination needs a limit"),
        ({"max_env_step": -1}, "max_env_step must be None or an int >= 0, got -1"),
        ({"max_train_iter": 2.0}, "max_train_iter must be None or an int >= 0, got 2.0"),
    ],
)
def test_bad_limits(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        termination(**kwargs)


def test_outside_a_task_it_says_how_to_use_it() -> None:
    gen = termination(max_env_step=0)(TrainContext())
    next(gen)
    with pytest.raises(RuntimeError, match=r"add it with task.use"):
        next(gen)
