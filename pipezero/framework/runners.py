"""Role runners of async mode: the per-role step loop and the backend that hosts it.

The step loop (:class:`RoleLoop`) only needs channels, a mirror board and a stop flag; the
backend decides where it runs. Only threads exist now (:class:`ThreadBackend`); a process
backend would implement the same two-method :class:`Backend` protocol.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .channel import POLL_INTERVAL, Channel
from .context import Context
from .errors import ChannelClosed, StopRequested
from .partition import RolePlan
from .step import run_step
from .weights import WeightStore

__all__ = ["Backend", "MirrorBoard", "RoleLoop", "RoleRunner", "RunControl", "ThreadBackend"]

logger = logging.getLogger(__name__)


class RoleRunner(Protocol):
    """Handle of one running role."""

    role: str

    def start(self) -> None:
        """Begin running the role's loop."""

    def join(self, timeout: float | None = None) -> None:
        """Wait at most ``timeout`` seconds for the loop to end."""

    def is_alive(self) -> bool:
        """Whether the loop is still running."""


class Backend(Protocol):
    """Creates the runner that hosts a role's loop."""

    def create(self, role: str, target: Callable[[], None]) -> RoleRunner:
        """Return a not yet started runner that calls ``target()`` once."""


class _ThreadRunner:
    def __init__(self, role: str, target: Callable[[], None]) -> None:
        self.role = role
        self._thread = threading.Thread(target=target, name=f"pipezero-{role}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()


class ThreadBackend:
    """Runs every role in its own daemon thread named ``pipezero-<role>``."""

    def create(self, role: str, target: Callable[[], None]) -> RoleRunner:
        """Return a thread runner for ``role``."""
        return _ThreadRunner(role, target)


class RunControl:
    """Stop flag shared by the runners and the first error one of them raised."""

    def __init__(
        self,
        stop: threading.Event,
        halt: Callable[[], None],
        interrupt: Callable[[], None],
    ) -> None:
        self.stop = stop
        self.halt = halt  # sets ``stop`` and releases every other engine wait
        self.interrupt = interrupt  # finishes the task with reason "interrupted"
        self.error: BaseException | None = None
        self.error_role: str | None = None
        self._lock = threading.Lock()

    def fail(self, role: str, exc: BaseException) -> None:
        """Record ``exc`` (the first one wins) and stop every runner."""
        with self._lock:
            if self.error is None:
                self.error, self.error_role = exc, role
        self.halt()


def _changed(old: Any, new: Any) -> bool:
    if old is new:
        return False
    try:
        return bool(old != new)
    except Exception:  # values whose comparison is not a bool (arrays): treat as changed
        return True


class MirrorBoard:
    """Latest values of the persistent fields that roles share, with change versions."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._values: dict[str, Any] = {}
        self._versions: dict[str, int] = {}
        self._ended: set[str] = set()

    def publish(self, values: Mapping[str, Any]) -> None:
        """Store ``values``; fields whose value changed get a new version."""
        with self._cond:
            for name, value in values.items():
                if name not in self._values or _changed(self._values[name], value):
                    self._values[name] = value
                    self._versions[name] = self._versions.get(name, 0) + 1
                    self._cond.notify_all()

    def end(self, role: str) -> None:
        """Mark ``role`` as ended: its fields will not change any more."""
        with self._cond:
            self._ended.add(role)
            self._cond.notify_all()

    def read(self, names: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, int]]:
        """Values published so far for ``names`` and their versions."""
        with self._cond:
            values = {n: self._values[n] for n in names if n in self._values}
            return values, {n: self._versions.get(n, 0) for n in names}

    def wait_change(
        self, seen: Mapping[str, int], writers: set[str], stop: threading.Event
    ) -> bool:
        """Wait until a field of ``seen`` has a newer version than seen.

        Returns ``False`` when every writer role ended without a further change.

        Raises:
            StopRequested: ``stop`` was set while waiting.
        """
        with self._cond:
            while True:
                if any(self._versions.get(n, 0) > v for n, v in seen.items()):
                    return True
                if writers <= self._ended:
                    return False
                if stop.is_set():
                    raise StopRequested("mirror wait abandoned: run is stopping")
                self._cond.wait(POLL_INTERVAL)


class RoleLoop:
    """The step loop of one role: take inputs, run the sub-chain, send outputs, renew."""

    def __init__(
        self,
        plan: RolePlan,
        ctx: Context,
        inputs: Mapping[str, Channel[dict[str, Any]]],
        outputs: Mapping[str, Channel[dict[str, Any]]],
        board: MirrorBoard,
        control: RunControl,
        weights: WeightStore,
        max_steps: int | None,
    ) -> None:
        self.plan = plan
        self.ctx = ctx
        self.inputs = dict(inputs)
        self.outputs = dict(outputs)
        self.board = board
        self.control = control
        self.weights = weights
        self.max_steps = max_steps
        self.steps = 0
        self._mirror_names = tuple(f for fs in plan.mirror_inputs.values() for f in fs)
        self._seen: dict[str, int] = dict.fromkeys(self._mirror_names, 0)

    def run(self) -> None:
        """Loop until max_steps, stop, or an ended upstream; report errors to the control."""
        role = self.plan.role
        try:
            self._loop()
        except StopRequested:
            logger.debug("role %s: stopped while waiting", role)
        except KeyboardInterrupt:
            logger.warning("role %s: interrupted, finishing the run", role)
            self.control.interrupt()
        except BaseException as exc:
            logger.error("role %s: %s: %s; stopping every role", role, type(exc).__name__, exc)
            self.control.fail(role, exc)
        finally:
            for ch in (*self.outputs.values(), *self.inputs.values()):
                ch.close()
            self.board.end(role)
            self.weights.release_thread(threading.get_ident())
            logger.debug("role %s: ended after %d steps", role, self.steps)

    def _loop(self) -> None:
        stop = self.control.stop
        ctx = self.ctx
        while not stop.is_set() and (self.max_steps is None or self.steps < self.max_steps):
            with self.weights.idle():
                items = self._take_inputs()
            if items is None:
                return
            for item in items:
                for name, value in item.items():
                    setattr(ctx, name, value)
            run_step(self.plan.chain, ctx)
            self.steps += 1
            ctx.task_step += 1
            if self.plan.mirror_outputs:
                self.board.publish({f: getattr(ctx, f) for f in self.plan.mirror_outputs})
            with self.weights.idle():
                self._send_outputs()
            ctx.renew()

    def _take_inputs(self) -> list[dict[str, Any]] | None:
        """Wait for this step's inputs and apply mirrored values; ``None``: no more input."""
        stop = self.control.stop
        items: list[dict[str, Any]] = []
        try:
            for ch in self.inputs.values():
                items.append(ch.get(stop=stop))
        except ChannelClosed:
            logger.debug("role %s: an upstream role ended", self.plan.role)
            return None
        if self.plan.waits_for_mirror and self.steps > 0:
            writers = set(self.plan.mirror_inputs)
            if not self.board.wait_change(self._seen, writers, stop):
                logger.debug("role %s: mirrored writers ended", self.plan.role)
                return None
        if self._mirror_names:
            values, self._seen = self.board.read(self._mirror_names)
            for name, value in values.items():
                setattr(self.ctx, name, value)
        return items

    def _send_outputs(self) -> None:
        """Put this step's per-step fields on the channel of each reader role."""
        for dst, ch in self.outputs.items():
            fields = self.plan.step_outputs[dst]
            try:
                ch.put({f: getattr(self.ctx, f) for f in fields}, stop=self.control.stop)
            except ChannelClosed:
                logger.debug("role %s: reader %s ended, output dropped", self.plan.role, dst)
