"""Synchronous, thread-safe event dispatch.

Handlers run in the thread that emits, in registration order; an exception raised by a
handler propagates at once to the emitter and the remaining handlers are not called.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

__all__ = ["Event", "EventBus", "EventName", "Handler"]

logger = logging.getLogger(__name__)


class Event(str, Enum):
    """Events of the standard pipeline. ``Event.FINISH == "finish"``, so the string and the
    member name the same event; any other string is a free-form user event."""

    NEW_DATA = "new_data"
    """The collector produced data: ``(ctx, segments)``."""
    POLICY_UPDATED = "policy_updated"
    """The learner changed the policy: ``(ctx, train_iter)``."""
    EVAL_DONE = "eval_done"
    """An evaluation finished: ``(ctx, eval_result)``."""
    CKPT_SAVED = "ckpt_saved"
    """A checkpoint was written: ``(ctx, path)``."""
    FINISH = "finish"
    """The run ended; delivered once by the engine: ``(ctx, reason)``."""
    ERROR = "error"
    """A middleware raised; delivered once by the engine before the exception propagates:
    ``(ctx, exc)``. Listeners save what can be saved (a recovery checkpoint); their own
    exceptions are logged and do not hide the original one."""


EventName = Event | str
Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)


class _Entry:
    __slots__ = ("handler", "once")

    def __init__(self, handler: Handler, once: bool) -> None:
        self.handler = handler
        self.once = once


def _key(name: EventName) -> str:
    """The registry key of an event: the member's value for an :class:`Event`."""
    if isinstance(name, Event):
        return name.value
    if not isinstance(name, str) or not name:
        raise TypeError(f"an event name must be an Event or a non-empty str, got {name!r}")
    return name


class EventBus:
    """Registry of event handlers, safe to use from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: dict[str, list[_Entry]] = {}

    def on(self, name: EventName, handler: H) -> H:
        """Call ``handler(*args, **kwargs)`` on every ``emit(name, *args, **kwargs)``.

        Returns the handler, so that it can later be given to :meth:`off`.
        """
        return self._add(name, handler, once=False)

    def once(self, name: EventName, handler: H) -> H:
        """Like :meth:`on`, but the handler is removed before its first call."""
        return self._add(name, handler, once=True)

    def off(self, name: EventName, handler: Handler | None = None) -> bool:
        """Remove ``handler`` from ``name`` (every handler of ``name`` when ``None``).

        Returns ``True`` when something was removed.
        """
        key = _key(name)
        with self._lock:
            entries = self._handlers.get(key, [])
            kept = [] if handler is None else [e for e in entries if e.handler != handler]
            removed = len(kept) != len(entries)
            if kept:
                self._handlers[key] = kept
            else:
                self._handlers.pop(key, None)
        return removed

    def emit(self, name: EventName, *args: Any, **kwargs: Any) -> int:
        """Call the handlers of ``name`` now, in this thread, in registration order.

        A ``once`` handler is called by exactly one emitter even when several threads emit at
        the same time. Handlers may register or remove handlers; such changes apply from the
        next emit. Returns the number of handlers called.
        """
        key = _key(name)
        with self._lock:
            entries = list(self._handlers.get(key, ()))
            if any(e.once for e in entries):
                remaining = [e for e in entries if not e.once]
                if remaining:
                    self._handlers[key] = remaining
                else:
                    del self._handlers[key]
        for entry in entries:
            entry.handler(*args, **kwargs)
        logger.debug("event %r delivered to %d handler(s)", key, len(entries))
        return len(entries)

    def handlers(self, name: EventName) -> tuple[Handler, ...]:
        """The handlers currently registered for ``name``, in call order."""
        with self._lock:
            return tuple(e.handler for e in self._handlers.get(_key(name), ()))

    def _add(self, name: EventName, handler: H, *, once: bool) -> H:
        key = _key(name)
        if not callable(handler):
            raise TypeError(f"event handler for {name!r} must be callable, got {handler!r}")
        with self._lock:
            self._handlers.setdefault(key, []).append(_Entry(handler, once))
        return handler
