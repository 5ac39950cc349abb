"""Async mode: run each role's sub-chain in its own runner and merge the contexts."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from .channel import POLL_INTERVAL, Channel
from .context import Context
from .middleware import Middleware
from .monitor import AsyncMonitor
from .partition import RolePlan, plan_roles
from .runners import Backend, MirrorBoard, RoleLoop, RoleRunner, RunControl, empty_board

__all__ = ["run_async", "uses_processes"]

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
    deliver: Callable[..., Any] | None = None,
) -> dict[str, int]:
    """Run ``chain`` split by role until every runner ended; merge results into ``ctx``.

    Each role runs on its own copy of ``ctx``. Afterwards (also after an error) every
    persistent field of ``ctx`` is taken from the role that writes it, ``task_step`` is the
    largest per-role step count, and the per-step fields are renewed.

    With a backend that hosts roles in processes, channels, the mirror board and the event
    relay are made in shared memory before the processes are forked (the caller has shared
    the stop flag, the finish reason and the weight store already); events emitted in a
    process are delivered here with ``deliver(event, *args, **kwargs)``.

    Returns:
        Steps completed per role.

    Raises:
        BaseException: the first exception raised in a runner, with its own traceback, once
            every runner stopped (or ``shutdown_timeout`` seconds after it was raised). For a
            runner process its traceback is attached as ``__cause__``.
    """
    plans = plan_roles(chain, type(ctx))
    in_process = uses_processes(backend, plans)

    def make_channel(src: str, dst: str) -> Any:
        if in_process:
            return backend.channel(channel_capacity, f"{src}->{dst}")  # type: ignore[attr-defined]
        return Channel[dict[str, Any]](channel_capacity, name=f"{src}->{dst}")

    channels = {
        (src, dst): make_channel(src, dst)
        for src, plan in plans.items()
        for dst in plan.step_outputs
    }
    board = (
        MirrorBoard(backend.state(empty_board(), "mirror board"))  # type: ignore[attr-defined]
        if in_process
        else MirrorBoard()
    )
    if in_process:
        control.relay = backend.relay()  # type: ignore[attr-defined]
    control.monitor = AsyncMonitor(channels, board, weights)
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
    runners = {role: backend.create(role, loop) for role, loop in loops.items()}
    processes = getattr(backend, "processes", frozenset())
    # Fork the runner processes before this process starts any thread of the run.
    _start(runners, [role for role in runners if role in processes], control)
    if control.relay is not None:
        control.relay.start(deliver or (lambda *args, **kwargs: None), control.fail)
    _start(runners, [role for role in runners if role not in processes], control)
    orphans = [(ch, runners[dst]) for (_, dst), ch in channels.items() if in_process]
    try:
        _join(list(runners.values()), control, shutdown_timeout, orphans)
    finally:
        if control.relay is not None:
            control.relay.stop()
    for ch in channels.values():
        ch.close()
    # Merged even after an error, so the caller and Event.ERROR listeners see how far each
    # role got.
    _merge(ctx, plans, {role: loop.ctx for role, loop in loops.items()})
    if control.error is not None:
        raise control.error
    return {role: loop.steps for role, loop in loops.items()}


def uses_processes(backend: Backend, plans: dict[str, RolePlan] | Sequence[str]) -> bool:
    """Whether ``backend`` hosts one of the roles in ``plans`` in another process."""
    return bool(getattr(backend, "processes", frozenset()) & set(plans))


def _start(runners: dict[str, RoleRunner], roles: list[str], control: RunControl) -> None:
    for role in roles:
        try:
            runners[role].start()
        except KeyboardInterrupt:  # Ctrl-C while starting: the runners see the stop flag
            control.interrupt()


def _describe(plan: RolePlan) -> str:
    names = ", ".join(mw.name for mw in plan.chain)
    ins = [f"{src}:{'+'.join(fs)}" for src, fs in plan.step_inputs.items()]
    ins += [f"{src}:{'+'.join(fs)} (mirror)" for src, fs in plan.mirror_inputs.items()]
    return f"{plan.role}[{names}]" + (f" <- {', '.join(ins)}" if ins else "")


def _join(
    runners: list[RoleRunner],
    control: RunControl,
    shutdown_timeout: float,
    orphans: list[tuple[Any, RoleRunner]],
) -> None:
    """Wait for every runner; Ctrl-C finishes the run; give up late runners after an error.

    ``orphans`` pairs each process channel with its reader: once the reader ended, what is
    left in the channel is discarded, so that a writer process can flush and exit.
    """
    error_since: float | None = None
    while True:
        try:
            alive = [r for r in runners if r.is_alive()]
            for ch, reader in orphans:
                if reader not in alive:
                    ch.drain()
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
                    for runner in alive:
                        if hasattr(runner, "terminate"):
                            runner.terminate()
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
