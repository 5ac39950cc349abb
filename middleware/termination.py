"""termination: finish the run when a budget of environment steps or updates is spent."""

from __future__ import annotations

from collections.abc import Iterator

from pipezero.framework import Middleware, Task, TrainContext, middleware

__all__ = ["termination"]


def _limit(name: str, value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"termination: {name} must be None or an int >= 0, got {value!r}")
    return value


def termination(max_env_step: int | None = None, max_train_iter: int | None = None) -> Middleware:
    """Call ``task.finish(reason)`` once ``ctx.env_step >= max_env_step`` or
    ``ctx.train_iter >= max_train_iter``.

    The check runs after the whole chain (after this middleware's ``yield``), so the step
    that reaches a limit is the last one wherever this middleware sits. The reason names
    every limit reached, e.g. ``"max_env_step reached: env_step 1024 >= 1000"``.

    Args:
        max_env_step: environment transitions to collect at most (``None``: no limit).
        max_train_iter: gradient updates to do at most (``None``: no limit).
    """
    _limit("max_env_step", max_env_step)
    _limit("max_train_iter", max_train_iter)
    if max_env_step is None and max_train_iter is None:
        raise ValueError(
            "termination needs a limit: give max_env_step and/or max_train_iter "
            "(to run until another middleware finishes the task, leave termination out)"
        )
    refs: dict[str, Task] = {}

    def check(ctx: TrainContext) -> Iterator[None]:
        yield
        reached = [
            f"{name} reached: {field} {value} >= {limit}"
            for name, field, value, limit in (
                ("max_env_step", "env_step", ctx.env_step, max_env_step),
                ("max_train_iter", "train_iter", ctx.train_iter, max_train_iter),
            )
            if limit is not None and value >= limit
        ]
        if reached:
            if "task" not in refs:
                raise RuntimeError(
                    "termination was called outside a task; add it with task.use(termination(...))"
                )
            refs["task"].finish("; ".join(reached))

    return middleware(
        check,
        name="termination",
        reads=("env_step", "train_iter"),
        setup=lambda task: refs.update(task=task),
    )
