"""Async mode: run each role's sub-chain in its own runner and merge the contexts."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from typing import Any

from .channel import POLL_INTERVAL, Channel
from .context import Context
from .middleware import Middleware
from .partition import RolePlan, plan_roles
from .runners import Backend, MirrorBoard, RoleLoop, RoleRunner, RunControl

__all__ = ["run_async"]

logger = logging.getLogger(__name__)


def run_async(
    chain: Sequence[Middleware],
    ctx: Context,
    control: RunControl,
    *,
    backend: Backend,
    weights: Any,
    channel_capacity: int,
    max_steps: int | None,
    shutdown_timeout: float,
) -> dict[str, int]:
    """Run ``chain`` split by role until every runner ended; merge results into ``ctx``.

    Each role runs on its own copy of ``ctx``. Afterwards (also after an error) every
    persistent field of ``ctx``
    is taken from the role that writes it, ``task_step`` is the largest per-role step count,
    and the per-step fields are renewed.

    Returns:
        Steps completed per role.

    Raises:
        BaseException: the first exception raised in a runner, with its own traceback, once
            every runner stopped (or ``shutdown_timeout`` seconds after it was raised).
    """
    plans = plan_roles(chain, type(ctx))
    channels = {
        (src, dst): Channel[dict[str, Any]](channel_capacity, name=f"{src}->{dst}")
        for src, plan in plans.items()
        for dst in plan.step_outputs
    }
    board = MirrorBoard()
    loops: dict[str, RoleLoop] = {}
    for role, plan in plans.items():
        role_ctx = copy.copy(ctx)
        role_ctx.renew()
        loops[role] = RoleLoop(
            plan,
            role_ctx,
            inputs={src: channels[(src, role)] for src in plan.step_inputs},
            outputs={dst: channels[(role, dst)] for dst in plan.step_outputs},
            board=board,
            control=control,
            weights=weights,
            max_steps=max_steps,
        )
    logger.info("async run: roles %s", ", ".join(_describe(p) for p in plans.values()))
    runners = [backend.create(role, loop.run) for role, loop in loops.items()]
    for runner in runners:
        try:
            runner.start()
        except KeyboardInterrupt:  # Ctrl-C while starting: the runners see the stop flag
            control.interrupt()
    _join(runners, control, shutdown_timeout)
    for ch in channels.values():
        ch.close()
    # Merged even after an error, so the caller and Event.ERROR listeners see how far each
    # role got.
    _merge(ctx, plans, {role: loop.ctx for role, loop in loops.items()})
    if control.error is not None:
        raise control.error
    return {role: loop.steps for role, loop in loops.items()}


def _describe(plan: RolePlan) -> str:
    names = ", ".join(mw.name for mw in plan.chain)
    ins = [f"{src}:{'+'.join(fs)}" for src, fs in plan.step_inputs.items()]
    ins += [f"{src}:{'+'.join(fs)} (mirror)" for src, fs in plan.mirror_inputs.items()]
    return f"{plan.role}[{names}]" + (f" <- {', '.join(ins)}" if ins else "")


def _join(runners: list[RoleRunner], control: RunControl, shutdown_timeout: float) -> None:
    """Wait for every runner; Ctrl-C finishes the run; give up late runners after an error."""
    error_since: float | None = None
    while True:
        try:
            alive = [r for r in runners if r.is_alive()]
            if not alive:
                return
            if control.error is not None:
                error_since = error_since or time.monotonic()
                if time.monotonic() - error_since > shutdown_timeout:
                    logger.warning(
                        "roles %s still running %.0f s after an error; leaving them behind",
                        ", ".join(r.role for r in alive),
                        shutdown_timeout,
                    )
                    return
            alive[0].join(POLL_INTERVAL)
        except KeyboardInterrupt:
            logger.warning("interrupted: finishing once the current steps complete")
            control.interrupt()


def _merge(ctx: Context, plans: dict[str, RolePlan], contexts: dict[str, Context]) -> None:
    """Fold the role contexts back into ``ctx`` (in place)."""
    for name in type(ctx).persistent_fields():
        if name in ("task_step", "finish_reason"):
            continue
        initial = getattr(ctx, name)
        owner = next((role for role, plan in plans.items() if name in plan.writes), None)
        if owner is None:  # written by undeclared middleware, if at all
            owner = next((r for r, c in contexts.items() if getattr(c, name) is not initial), None)
        if owner is not None:
            setattr(ctx, name, getattr(contexts[owner], name))
    ctx.task_step += max((c.task_step - ctx.task_step for c in contexts.values()), default=0)
    ctx.renew()
