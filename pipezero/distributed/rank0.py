"""Run a middleware on rank 0 only: evaluation, logging and checkpoints under ``--ddp``."""

from __future__ import annotations

import dataclasses
from typing import Any

from pipezero.distributed.process_group import get_rank
from pipezero.framework import Context, Middleware, Task, as_middleware

__all__ = ["rank0_only"]


def rank0_only(mw: Any) -> Middleware:
    """``mw`` on rank 0 (and in a run without a process group); a silent stand-in elsewhere.

    The stand-in keeps ``mw``'s name, role and declaration, so the chain validates the same on
    every rank, but it neither runs nor calls ``mw``'s ``setup`` (no event handler, no final
    checkpoint): on other ranks the fields it would write keep their defaults. Wrap every
    middleware that evaluates, logs or saves, and the middleware that read what they write::

        task.use(rank0_only(interval_eval(p, policy, eval_envs)))
        task.use(rank0_only(ckpt_saver(cfg.exp_dir, policy, buffer)))

    The rank is read when the middleware is added to a task (``task.use``), so start the
    process group first (:func:`~pipezero.distributed.init_distributed`).
    """
    inner = as_middleware(mw)

    state: dict[str, bool] = {"active": True}

    def call(ctx: Context) -> Any:
        return inner.fn(ctx) if state["active"] else None

    def setup(task: Task) -> None:
        state["active"] = get_rank() == 0
        if state["active"] and inner.setup is not None:
            inner.setup(task)

    return dataclasses.replace(inner, fn=call, setup=setup)
