"""Process backend of async mode: chosen roles run in forked child processes.

Threads share one interpreter lock, so roles whose steps are many small operations (a search
over a small network, an update of a small model) barely overlap in threads. A
:class:`ProcessBackend` runs the roles it is given in child processes forked when the run
starts, and the others in threads of the calling process:

- per-step fields travel through :class:`ProcessChannel` (a bounded queue; items are pickled);
- mirrored persistent fields, the finish reason and the weight store's bookkeeping live in
  shared memory (:mod:`pipezero.framework.shared`); weights are pickled into a shared memory
  block on publish, with the version counter beside them;
- the stop flag is a multiprocessing event, so ``task.finish`` and errors stop every runner;
- events emitted in a child are sent to the calling process and delivered there to the
  handlers registered on the task (so a checkpointer or a recipe's history list sees them);
- when a child ends it sends back its step count and persistent fields (merged like a
  thread's), or the exception it raised with its traceback, which the caller re-raises.

Children are forked (Linux), so middleware, policies and environments need not be picklable;
what crosses processes (channel items, mirrored fields, weights, event arguments) must be.
Ctrl-C is handled by the calling process only (children ignore SIGINT and stop through the
stop flag after their current step).

A forked child cannot use the OpenMP thread pool of its parent: once the parent has run a
parallel torch operation, a child that runs one with more than one thread waits forever for
pool threads that were not forked. So children run torch on one thread (set first thing, if
the parent has imported torch); a role that needs more cores belongs in the calling process.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from multiprocessing.context import BaseContext
from typing import Any

from .channel import POLL_INTERVAL
from .errors import ChannelClosed, StopRequested
from .runners import RoleRunner, ThreadBackend
from .shared import SharedCondition, SharedFlag, SharedState

__all__ = ["EventRelay", "ProcessBackend", "ProcessChannel", "RemoteTraceback"]

logger = logging.getLogger(__name__)


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a runner process, attached as ``__cause__``."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f"\n\nin the runner process:\n{self.text}"


class ProcessChannel:
    """A bounded FIFO between processes, with the interface of :class:`Channel`.

    Items are pickled by the writer at ``put`` (later changes to them do not travel) and
    unpickled by the reader. ``put`` blocks while ``capacity`` items are in flight; ``close``
    is seen by both sides. Create it before forking.
    """

    def __init__(self, mp_context: BaseContext, capacity: int, name: str = "channel") -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"channel {name!r}: capacity must be an int >= 1, got {capacity!r}")
        self.capacity = capacity
        self.name = name
        self._cond = SharedCondition(mp_context)
        self._counts = mp_context.RawArray("q", 3)  # items in flight, closed, high water
        self._queue = mp_context.Queue()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (in any process)."""
        return bool(self._counts[1])

    @property
    def high_water(self) -> int:
        """Largest number of items in flight at once."""
        return int(self._counts[2])

    def __len__(self) -> int:
        with self._cond:
            return int(self._counts[0])

    def put(self, item: Any, timeout: float | None = None, stop: Any = None) -> None:
        """Send ``item``, waiting while ``capacity`` items are in flight.

        Raises:
            ChannelClosed: the channel is closed.
            TimeoutError: still full after ``timeout`` seconds.
            StopRequested: ``stop`` was set while waiting.
        """
        data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        counts = self._counts
        with self._cond:
            self._wait(lambda: counts[0] < self.capacity, "put", timeout, stop)
            self._queue.put(data)
            counts[0] += 1
            counts[2] = max(counts[2], counts[0])
            self._cond.notify_all()

    def get(self, timeout: float | None = None, stop: Any = None) -> Any:
        """Receive the oldest item, waiting while none is in flight.

        Raises:
            ChannelClosed: the channel is closed and empty.
            TimeoutError: still empty after ``timeout`` seconds.
            StopRequested: ``stop`` was set while waiting.
        """
        counts = self._counts
        with self._cond:
            self._wait(lambda: counts[0] > 0, "get", timeout, stop)
            counts[0] -= 1
            self._cond.notify_all()
        while True:  # the item was counted after it was queued: it arrives
            try:
                return pickle.loads(self._queue.get(timeout=POLL_INTERVAL))
            except queue.Empty:
                if stop is not None and stop.is_set():
                    raise StopRequested(
                        f"get on channel {self.name!r} abandoned: run is stopping"
                    ) from None

    def close(self) -> None:
        """Refuse further puts and wake every waiter. Closing twice is harmless."""
        with self._cond:
            self._counts[1] = 1
            self._cond.notify_all()

    def drain(self) -> int:
        """Discard what is queued (the reader ended), so a writer process can exit."""
        dropped = 0
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return dropped
            dropped += 1

    def _wait(self, ready: Callable[[], bool], op: str, timeout: float | None, stop: Any) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        counts = self._counts
        while True:
            if counts[1] and (op == "put" or not counts[0]):
                detail = "" if op == "put" else " and empty"
                raise ChannelClosed(f"cannot {op} on channel {self.name!r}: it is closed{detail}")
            if ready():
                return
            if stop is not None and stop.is_set():
                raise StopRequested(f"{op} on channel {self.name!r} abandoned: run is stopping")
            wait = POLL_INTERVAL
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{op} on channel {self.name!r} timed out after {timeout} s "
                        f"({counts[0]}/{self.capacity} items)"
                    )
                wait = min(wait, remaining)
            self._cond.wait(wait)


class EventRelay:
    """Carries events emitted in runner processes to the calling process.

    A child calls :meth:`send`; a thread of the calling process (:meth:`start`) delivers each
    event to the task's handlers, in the order each child sent them. An event whose arguments
    cannot be pickled is dropped with a warning (once per event name).
    """

    def __init__(self, mp_context: BaseContext) -> None:
        self._queue = mp_context.Queue()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned: set[str] = set()

    def send(self, role: str, event: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Queue ``event(*args, **kwargs)`` for delivery in the calling process (in a child)."""
        try:
            data = pickle.dumps((role, event, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            if str(event) not in self._warned:
                self._warned.add(str(event))
                logger.warning(
                    "role %s: event %r not delivered to the main process, its arguments "
                    "cannot be pickled (%s: %s)",
                    role,
                    event,
                    type(exc).__name__,
                    exc,
                )
            return
        self._queue.put(data)

    def start(
        self, deliver: Callable[..., Any], fail: Callable[[str, BaseException], None]
    ) -> None:
        """Deliver events in a thread ``pipezero-events``; a handler's exception is reported
        with ``fail(role, exc)`` (it stops the run like an exception of that role)."""

        def run() -> None:
            while True:
                try:
                    data = self._queue.get(timeout=POLL_INTERVAL)
                except queue.Empty:
                    if self._done.is_set():
                        return
                    continue
                role, event, args, kwargs = pickle.loads(data)
                try:
                    deliver(event, *args, **kwargs)
                except BaseException as exc:
                    logger.error("handler of %r (from role %s) raised %r", event, role, exc)
                    fail(role, exc)

        self._thread = threading.Thread(target=run, name="pipezero-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Deliver what the children sent, then end the delivery thread."""
        self._done.set()
        if self._thread is not None:
            self._thread.join()


class _ProcessRunner:
    """Runs one role's loop in a forked child and collects its report."""

    def __init__(self, backend: ProcessBackend, role: str, loop: Any) -> None:
        for attr in ("ctx", "steps", "control"):
            if not hasattr(loop, attr):
                raise TypeError(
                    f"ProcessBackend runs the engine's RoleLoop, got {type(loop).__name__} "
                    f"without {attr!r}"
                )
        self.role = role
        self.loop = loop
        self._backend = backend
        self._process: Any = None
        self._recv: Any = None
        self._reported = False

    def start(self) -> None:
        mpc = self._backend.mp_context
        self._recv, send = mpc.Pipe(duplex=False)  # made now, so later children lack it
        self._process = mpc.Process(
            target=_child_main,
            args=(self, send, os.getpid()),
            name=f"pipezero-{self.role}",
            daemon=True,
        )
        self._process.start()
        send.close()  # the child holds the only write end: EOF tells us it died
        logger.debug("role %s: process %d started", self.role, self._process.pid)

    def is_alive(self) -> bool:
        self._poll(0)
        return not self._reported or self._process.is_alive()

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._reported:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            self._poll(POLL_INTERVAL if remaining is None else min(POLL_INTERVAL, remaining))
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        self._process.join(remaining)

    def terminate(self) -> None:
        """Kill the child (it did not stop in time after an error)."""
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(1.0)

    def _poll(self, timeout: float) -> None:
        if self._reported or self._recv is None:
            return
        try:
            if not self._recv.poll(timeout):
                return
            report = self._recv.recv()
        except (EOFError, OSError):
            self._reported = True
            self._process.join(1.0)
            code = self._process.exitcode
            how = f"was killed by signal {-code}" if code and code < 0 else f"exited ({code})"
            self.loop.control.fail(
                self.role,
                RuntimeError(
                    f"role {self.role!r}: its process (pid {self._process.pid}) {how} "
                    f"without reporting; look for a crash in native code or the kernel's "
                    f"out-of-memory killer"
                ),
            )
            return
        self._reported = True
        self._apply(report)

    def _apply(self, report: dict[str, Any]) -> None:
        loop = self.loop
        loop.steps = report["steps"]
        for name, value in report["fields"].items():
            setattr(loop.ctx, name, value)
        if report["error"] is not None:
            exc = _rebuild_error(report)
            exc.__cause__ = RemoteTraceback(report["traceback"])
            loop.control.fail(self.role, exc)


def _rebuild_error(report: dict[str, Any]) -> BaseException:
    if report["error_pickle"] is not None:
        try:
            exc = pickle.loads(report["error_pickle"])
            if isinstance(exc, BaseException):
                return exc
        except Exception:
            logger.debug("could not unpickle the exception of role %s", report["role"])
    return RuntimeError(f"role {report['role']!r} raised {report['error']}")


def _child_main(runner: _ProcessRunner, send: Any, parent_pid: int) -> None:
    """Body of a runner process: run the role's loop, report steps, fields and any error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the calling process's business
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)  # the parent's OpenMP pool is not forked (module docstring)
    role, loop, backend = runner.role, runner.loop, runner._backend
    control = loop.control
    nice = backend.niceness.get(role, 0)
    if nice:
        os.nice(nice)
    if control.enter_process is not None and control.relay is not None:
        control.enter_process(role, functools.partial(control.relay.send, role))
    threading.Thread(
        target=_watch_parent, args=(parent_pid, control), name="parent-watch", daemon=True
    ).start()
    loop.run()
    send.send(_report(role, loop, control))
    send.close()


def _watch_parent(parent_pid: int, control: Any) -> None:
    """Stop the child's loop if the calling process died (nobody would ever stop it)."""
    while not control.stop.wait(1.0):
        if os.getppid() != parent_pid:
            control.halt()
            return


def _report(role: str, loop: Any, control: Any) -> dict[str, Any]:
    ctx = loop.ctx
    names = [n for n in type(ctx).persistent_fields() if n != "finish_reason"]
    report: dict[str, Any] = {
        "role": role,
        "steps": loop.steps,
        "fields": {n: getattr(ctx, n) for n in names},
        "error": None,
        "error_pickle": None,
        "traceback": "",
    }
    exc = control.error if control.error_role == role else None
    if exc is not None:
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["traceback"] = "".join(traceback.format_exception(exc))
        try:
            report["error_pickle"] = pickle.dumps(exc)
        except Exception:
            report["error_pickle"] = None
    try:
        pickle.dumps(report["fields"])
    except Exception as err:
        bad = [n for n, v in report["fields"].items() if not _picklable(v)]
        report["fields"] = {n: v for n, v in report["fields"].items() if n not in bad}
        if exc is None:
            report["error"] = (
                f"TypeError: persistent field(s) {', '.join(bad)} of role {role!r} cannot be "
                f"pickled ({err}); keep persistent fields plain values, or run {role!r} in a "
                f"thread"
            )
    return report


def _picklable(value: Any) -> bool:
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


class ProcessBackend:
    """Hosts the roles in ``processes`` in forked child processes, the others in threads.

    Args:
        processes: roles to run in their own process (default: the collector and the
            evaluator, so that the learner, with the optimizer, replay buffer and checkpoints,
            stays in the calling process).
        niceness: per-role increment of the child's scheduling niceness, e.g.
            ``{"evaluator": 10}`` lets evaluation use only CPU time the other roles leave.
        weights_capacity_mb: shared memory reserved for one pickled set of weights.
        start_method: only ``"fork"`` is supported (children inherit the chain as built).
    """

    def __init__(
        self,
        processes: Iterable[str] = ("collector", "evaluator"),
        *,
        niceness: Mapping[str, int] | None = None,
        weights_capacity_mb: int = 256,
        start_method: str = "fork",
    ) -> None:
        if start_method != "fork":
            raise ValueError(
                f"ProcessBackend needs start_method='fork' (children inherit the middleware "
                f"and their policies unpickled), got {start_method!r}"
            )
        if start_method not in multiprocessing.get_all_start_methods():
            raise RuntimeError(
                "ProcessBackend needs the 'fork' start method, which this platform lacks; "
                "use ThreadBackend"
            )
        if isinstance(processes, str):
            raise TypeError(f"processes must be a collection of roles, got the str {processes!r}")
        self.processes = frozenset(processes)
        self.niceness = dict(niceness or {})
        if not isinstance(weights_capacity_mb, int) or weights_capacity_mb < 1:
            raise ValueError(
                f"weights_capacity_mb must be an int >= 1, got {weights_capacity_mb!r}"
            )
        self.weights_capacity = weights_capacity_mb << 20
        self.mp_context = multiprocessing.get_context(start_method)
        self._threads = ThreadBackend()

    def __repr__(self) -> str:
        return f"ProcessBackend(processes={sorted(self.processes)})"

    def create(self, role: str, target: Callable[[], None]) -> RoleRunner:
        """A process runner for roles in :attr:`processes` (``target`` must be the engine's
        ``RoleLoop``), a thread runner for the others."""
        if role in self.processes:
            return _ProcessRunner(self, role, target)
        return self._threads.create(role, target)

    # -- what the engine shares with the children (made before forking) ---------------------
    def channel(self, capacity: int, name: str) -> ProcessChannel:
        """A channel that crosses processes."""
        return ProcessChannel(self.mp_context, capacity, name)

    def state(self, value: Any, name: str) -> SharedState:
        """A small shared value (mirror board, finish reason)."""
        return SharedState(self.mp_context, value, name=name)

    def event(self) -> Any:
        """A stop flag visible in every process."""
        return SharedFlag(self.mp_context)

    def relay(self) -> EventRelay:
        """The carrier of events from children to the calling process."""
        return EventRelay(self.mp_context)
