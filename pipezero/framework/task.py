"""The task: a chain of middleware run step by step over one context."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .async_run import run_async, uses_processes
from .context import Context
from .events import Event, EventBus, EventName, Handler
from .middleware import Middleware, MiddlewareFn, as_middleware
from .monitor import AsyncMonitor
from .partition import assign_roles, plan_roles
from .runners import Backend, RunControl, ThreadBackend
from .shared import LocalState, StateCell
from .state_providers import StateProviders
from .step import run_step
from .validation import check_fields, check_role_sharing, validate_chain
from .weights import WeightStore

__all__ = ["Task"]

logger = logging.getLogger(__name__)

C = TypeVar("C", bound=Context)
H = TypeVar("H", bound=Handler)

MODES = ("sync", "async")


class Task(Generic[C]):
    """Runs a chain of middleware over a context, in one thread or one runner per role.

    Args:
        ctx: the context of the run; ``run`` returns it (merged from the roles in async mode).
        weights: the store through which the learner hands policy weights to other roles
            (default: an unbounded :class:`WeightStore`).
        channel_capacity: items each cross-role channel holds before the writer blocks.
        backend: hosts the role runners in async mode (default: threads;
            :class:`~pipezero.framework.ProcessBackend` forks chosen roles into processes).
        shutdown_timeout: after an error, seconds to wait for the other runners to end their
            current step before re-raising anyway.
    """

    def __init__(
        self,
        ctx: C,
        *,
        weights: WeightStore | None = None,
        channel_capacity: int = 4,
        backend: Backend | None = None,
        shutdown_timeout: float = 10.0,
    ) -> None:
        if not isinstance(ctx, Context):
            raise TypeError(f"Task needs a Context instance, got {type(ctx).__name__}")
        if not isinstance(channel_capacity, int) or channel_capacity < 1:
            raise ValueError(f"channel_capacity must be an int >= 1, got {channel_capacity!r}")
        self.ctx: C = ctx
        self.weights = weights if weights is not None else WeightStore()
        self.events = EventBus()
        self.channel_capacity = channel_capacity
        self.backend: Backend = backend if backend is not None else ThreadBackend()
        self.shutdown_timeout = shutdown_timeout
        self.role_steps: dict[str, int] = {}
        #: run state held by middleware (a collector's unfinished segments...), by name; a
        #: checkpointer saves it and resume restores it (see :class:`StateProviders`)
        self.state_providers = StateProviders()
        #: ``"sync"`` or ``"async"`` once :meth:`run` started, ``None`` before
        self.mode: str | None = None
        self._chain: list[Middleware] = []
        self._stop: Any = threading.Event()  # a multiprocessing Event with runner processes
        self._reason: StateCell = LocalState(None)  # the finish reason; first one wins
        self._forward: Callable[[EventName, tuple[Any, ...], dict[str, Any]], int] | None = None
        self._started = False
        self._control: RunControl | None = None

    @property
    def async_monitor(self) -> AsyncMonitor | None:
        """The running async run's :class:`~pipezero.framework.monitor.AsyncMonitor` (queue
        depths, steps per role, weight staleness); ``None`` in sync mode and before the run
        starts."""
        return None if self._control is None else self._control.monitor

    # ----------------------------------------------------------------- chain
    @property
    def chain(self) -> tuple[Middleware, ...]:
        """The middleware in the order they run."""
        return tuple(self._chain)

    def use(self, mw: Middleware | MiddlewareFn) -> Task[C]:
        """Append a middleware (a :class:`Middleware` or a plain ``fn(ctx)``) and call its
        ``setup(task)`` hook. Names are made unique by appending ``#2``, ``#3``...

        Raises:
            ChainError: it declares a field the context class lacks.
            RuntimeError: the task has started running.
        """
        if self._started:
            raise RuntimeError("cannot use() a middleware once the task has started running")
        mw = as_middleware(mw)
        if mw.declared:
            check_fields(mw, type(self.ctx))
        taken = {m.name for m in self._chain}
        if mw.name in taken:
            k = 2
            while f"{mw.name}#{k}" in taken:
                k += 1
            mw = dataclasses.replace(mw, name=f"{mw.name}#{k}")
        self._chain.append(mw)
        if mw.setup is not None:
            mw.setup(self)
        return self

    def validate(self, mode: str = "sync") -> None:
        """Check the chain as :meth:`run` does before the first step.

        Raises:
            ChainError: naming the middleware and field at fault.
        """
        _check_mode(mode)
        validate_chain(self._chain, type(self.ctx))
        if mode == "async":
            plan_roles(self._chain, type(self.ctx))
            check_role_sharing(self._chain, assign_roles(self._chain))

    # ---------------------------------------------------------------- events
    def on(self, event: EventName, handler: H) -> H:
        """Call ``handler(*args)`` on each ``emit(event, *args)``; see :class:`EventBus`."""
        return self.events.on(event, handler)

    def once(self, event: EventName, handler: H) -> H:
        """Like :meth:`on`, for the next emission only."""
        return self.events.once(event, handler)

    def off(self, event: EventName, handler: Handler | None = None) -> bool:
        """Remove ``handler`` (all handlers when ``None``) of ``event``."""
        return self.events.off(event, handler)

    def emit(self, event: EventName, *args: Any, **kwargs: Any) -> int:
        """Call the handlers of ``event`` now, in this thread. ``Event.FINISH`` is reserved
        to the engine (call :meth:`finish`)."""
        if event in (Event.FINISH, Event.ERROR):
            raise ValueError(
                f"Event.{Event(event).name} is delivered by the engine; call task.finish(reason) "
                "or raise from the middleware"
            )
        if self._forward is not None:  # in a runner process: the handlers live in the caller
            return self._forward(event, args, kwargs)
        return self.events.emit(event, *args, **kwargs)

    # --------------------------------------------------------------- finish
    @property
    def finished(self) -> bool:
        """Whether :meth:`finish` was called (or the run ended)."""
        return self.finish_reason is not None

    @property
    def finish_reason(self) -> str | None:
        """The reason given to the first :meth:`finish` call, ``None`` while the run goes on."""
        with self._reason.cond:
            return self._reason.load()

    def finish(self, reason: str = "finished") -> None:
        """Ask the run to end; safe from any thread, any runner process and any middleware.

        The steps in progress complete (forwards and post-yield parts), no new step starts,
        then ``Event.FINISH`` is delivered once with ``(ctx, reason)``. The first reason wins.
        """
        with self._reason.cond:
            if self._reason.load() is None:
                self._reason.store(reason)
                logger.info("finishing: %s", reason)
        self._halt()

    def _halt(self) -> None:
        self._stop.set()
        self.weights.interrupt()

    # ------------------------------------------------------------------ run
    def run(self, max_steps: int | None = None, mode: str = "sync") -> C:
        """Validate the chain, run steps until finished, deliver ``Event.FINISH``.

        Args:
            max_steps: steps to run at most (per role in async mode); ``None``: until
                :meth:`finish` is called.
            mode: ``"sync"`` (one thread, chain order) or ``"async"`` (one runner per role).

        Returns:
            The context, with ``finish_reason`` set: the reason given to :meth:`finish`,
            ``"max_steps"``, ``"completed"`` (async: every role ran out of input), or
            ``"interrupted"`` after Ctrl-C (KeyboardInterrupt during a
            step is not re-raised: the run finishes gracefully instead).

        Raises:
            ChainError: the chain is inconsistent (nothing has run).
            Exception: an exception raised by a middleware, after the run stopped;
                ``Event.ERROR`` is delivered with ``(ctx, exc)`` first, ``Event.FINISH``
                is not (the step that failed may have left the context half-updated).
        """
        if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 0):
            raise ValueError(f"max_steps must be None or an int >= 0, got {max_steps!r}")
        self.validate(mode)
        if self._started:
            raise RuntimeError("a Task runs once; build a new Task for another run")
        self._started = True
        self.mode = mode
        unclaimed = self.state_providers.drop_pending()
        if unclaimed:
            logger.warning(
                "the checkpoint holds the state of %s, which no middleware of this chain "
                "provides (registered: %s); it is ignored",
                ", ".join(unclaimed),
                ", ".join(self.state_providers.names) or "none",
            )
        try:
            if mode == "sync":
                self._run_sync(max_steps)
            else:
                if uses_processes(self.backend, assign_roles(self._chain)):
                    self._share_with_processes()
                control = RunControl(self._stop, self._halt, lambda: self.finish("interrupted"))
                control.enter_process = self._enter_process
                self._control = control
                self.role_steps = run_async(
                    self._chain,
                    self.ctx,
                    control,
                    backend=self.backend,
                    weights=self.weights,
                    channel_capacity=self.channel_capacity,
                    max_steps=max_steps,
                    shutdown_timeout=self.shutdown_timeout,
                    deliver=self.events.emit,
                )
        except Exception as exc:
            self._deliver_error(exc)
            raise
        self.finish("max_steps" if max_steps is not None else "completed")  # no-op if set
        self.ctx.finish_reason = self.finish_reason
        logger.info("run finished (%s) after %d steps", self.finish_reason, self.ctx.task_step)
        self.events.emit(Event.FINISH, self.ctx, self.finish_reason)
        return self.ctx

    def _share_with_processes(self) -> None:
        """Move the stop flag, the finish reason and the weight store into shared memory,
        before the backend forks its runner processes."""
        backend: Any = self.backend
        stop = backend.event()
        if self._stop.is_set():
            stop.set()
        self._stop = stop
        self._reason = backend.state(self.finish_reason, "finish reason")
        self.weights.share(backend.mp_context, backend.weights_capacity)

    def _enter_process(self, role: str, send: Callable[..., None]) -> None:
        """In a runner process: send emitted events to the calling process, where the
        handlers registered on this task are (events nobody listens to are not sent)."""

        def forward(event: EventName, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
            count = len(self.events.handlers(event))
            if count:
                send(event, args, kwargs)
            return count

        self._forward = forward

    def _deliver_error(self, exc: Exception) -> None:
        """Deliver ``Event.ERROR`` once; a failing listener is logged, never raised, so the
        middleware's exception is the one the caller sees."""
        for handler in self.events.handlers(Event.ERROR):
            try:
                handler(self.ctx, exc)
            except Exception:
                logger.exception("an Event.ERROR listener failed while handling %r", exc)

    def _run_sync(self, max_steps: int | None) -> None:
        ctx = self.ctx
        steps = 0
        try:
            while not self._stop.is_set() and (max_steps is None or steps < max_steps):
                run_step(self._chain, ctx)
                steps += 1
                ctx.task_step += 1
                ctx.renew()
        except KeyboardInterrupt:
            logger.warning("interrupted during step %d: finishing", steps + 1)
            self.finish("interrupted")
            ctx.renew()
        finally:
            self._halt()
        self.role_steps = {"sync": steps}


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be 'sync' or 'async', got {mode!r}")
