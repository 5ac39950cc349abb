"""Role runners of async mode: the per-role step loop and the backend that hosts it.

The step loop (:class:`RoleLoop`) only needs channels, a mirror board and a stop flag; the
backend decides where it runs: :class:`ThreadBackend` here, the process backend in
:mod:`pipezero.framework.processes`.
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
from .shared import LocalState, StateCell
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
    """Creates the runner that hosts a role's loop.

    The engine passes the role's :class:`RoleLoop` as ``target`` (it is callable). A backend
    that runs some roles in other processes also has ``processes`` (those roles), and the
    factories ``channel``, ``state``, ``event``, ``relay`` and ``mp_context`` of
    :class:`~pipezero.framework.processes.ProcessBackend`, with which the engine makes what
    the processes share before it starts them.
    """

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

    processes: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return "ThreadBackend()"

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
        # Process backends: ``enter_process(role, send)`` is called first thing in a runner
        # process (the task then forwards its events with ``send``); ``relay`` carries them.
        self.enter_process: Callable[[str, Callable[..., None]], None] | None = None
        self.relay: Any = None
        self.monitor: Any = None  # the run's AsyncMonitor, made by run_async

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
    """Latest values of the persistent fields that roles share, with change versions.

    Args:
        state: where the board lives; default: in this process. A process backend passes a
            :class:`~pipezero.framework.shared.SharedState` so forked runners share it.
    """

    def __init__(self, state: StateCell | None = None) -> None:
        self._state: StateCell = state if state is not None else LocalState(empty_board())

    def publish(self, values: Mapping[str, Any], steps: tuple[str, int] | None = None) -> None:
        """Store ``values``; fields whose value changed get a new version. ``steps``:
        ``(role, steps completed)``, kept for :meth:`steps` (no version, nobody waits on it)."""
        state = self._state
        with state.cond:
            board = state.load()
            changed = False
            if steps is not None:
                board["steps"][steps[0]] = steps[1]
            for name, value in values.items():
                if name not in board["values"] or _changed(board["values"][name], value):
                    board["values"][name] = value
                    board["versions"][name] = board["versions"].get(name, 0) + 1
                    changed = True
            if changed:
                state.store(board)
                state.cond.notify_all()
            elif steps is not None:
                state.store(board)

    def end(self, role: str) -> None:
        """Mark ``role`` as ended: its fields will not change any more."""
        state = self._state
        with state.cond:
            board = state.load()
            board["ended"].add(role)
            state.store(board)
            state.cond.notify_all()

    def steps(self) -> dict[str, int]:
        """Steps completed so far by each role that reported them."""
        with self._state.cond:
            return dict(self._state.load()["steps"])

    def read(self, names: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, int]]:
        """Values published so far for ``names`` and their versions."""
        with self._state.cond:
            board = self._state.load()
            values = {n: board["values"][n] for n in names if n in board["values"]}
            return values, {n: board["versions"].get(n, 0) for n in names}

    def wait_change(
        self, seen: Mapping[str, int], writers: set[str], stop: threading.Event
    ) -> bool:
        """Wait until a field of ``seen`` has a newer version than seen.

        Returns ``False`` when every writer role ended without a further change.

        Raises:
            StopRequested: ``stop`` was set while waiting.
        """
        state = self._state
        with state.cond:
            while True:
                board = state.load()
                if any(board["versions"].get(n, 0) > v for n, v in seen.items()):
                    return True
                if writers <= board["ended"]:
                    return False
                if stop.is_set():
                    raise StopRequested("mirror wait abandoned: run is stopping")
                state.cond.wait(POLL_INTERVAL)


def empty_board() -> dict[str, Any]:
    """The initial content of a :class:`MirrorBoard`."""
    return {"values": {}, "versions": {}, "ended": set(), "steps": {}}


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

    def __call__(self) -> None:
        """Same as :meth:`run` (a backend may be given the loop itself as its target)."""
        self.run()

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
            mirrored = {f: getattr(ctx, f) for f in self.plan.mirror_outputs}
            self.board.publish(mirrored, steps=(self.plan.role, self.steps))
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
