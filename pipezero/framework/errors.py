"""Exceptions raised by the engine and a helper that suggests the closest valid name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["ChainError", "ChannelClosed", "StopRequested", "closest_hint"]


class ChainError(ValueError):
    """The middleware chain is inconsistent (checked before the first step)."""


class ChannelClosed(RuntimeError):
    """A :class:`~pipezero.framework.Channel` was used after it was closed."""


class StopRequested(Exception):
    """A blocking wait gave up because the run is stopping (finish, error or Ctrl-C)."""


def closest_hint(name: str, valid: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the valid name closest to ``name``, or ``""``.

    Args:
        name: the name that was not recognised.
        valid: the names that would have been accepted.
    """
    matches = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f"; did you mean {matches[0]!r}?" if matches else ""
