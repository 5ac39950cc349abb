"""What an async run looks like from the inside: queue depths, weight staleness, steps/s.

:class:`AsyncMonitor` is made by the engine when an async run starts (``task.async_monitor``)
and reads, without waiting on any role, what the roles already share: the channels between
them, the steps each role completed (kept on the mirror board, so roles in other processes
count too) and the version of the weights each subscriber of the weight store acts with.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["AsyncMonitor"]

_ID_SUFFIX = re.compile(r"-[0-9a-f]{6,}$")  # subscriber names end in an object id


class AsyncMonitor:
    """Snapshots of an async run's channels, role progress and weight staleness.

    Args:
        channels: ``{(writer_role, reader_role): channel}`` (anything with ``len()`` and
            ``capacity``).
        board: the run's mirror board (its ``steps()`` give each role's completed steps).
        weights: the run's weight store (its ``lags()`` give each subscriber's lag).
    """

    def __init__(self, channels: Mapping[tuple[str, str], Any], board: Any, weights: Any) -> None:
        self.channels = dict(channels)
        self.board = board
        self.weights = weights
        self._lock = threading.Lock()
        self._last: tuple[float, dict[str, int]] | None = None

    def snapshot(self, rates: bool = True) -> dict[str, float]:
        """The figures now, as ``{tag: value}`` (``rates=False``: without ``steps_per_s``,
        and without moving the point the next rates are measured from, so that a second
        reader, such as the visual mode's page, does not shorten the logger's intervals):

        - ``queue_depth/<writer>_to_<reader>``: items waiting in the channel (at most
          ``channel_capacity``; full means the writer is blocked, empty the reader waits);
        - ``steps/<role>``: steps the role completed;
        - ``steps_per_s/<role>``: its steps per second since the previous snapshot (from
          the second snapshot on);
        - ``staleness/<subscriber>``: newest published weight version minus the version the
          subscriber acts with (with versions counted in train iterations, as the standard
          learner publishes them: how many updates behind the learner the collector or
          evaluator acts), for subscribers that pulled once; the subscriber's name without
          its id suffix (``env_collect``, ``interval_eval``; the largest when several share
          a name).
        """
        out: dict[str, float] = {}
        for (src, dst), channel in self.channels.items():
            out[f"queue_depth/{src}_to_{dst}"] = float(len(channel))
        now, steps = time.monotonic(), self.board.steps()
        if rates:
            with self._lock:
                if self._last is not None:
                    then, before = self._last
                    elapsed = max(now - then, 1e-9)
                    for role, count in steps.items():
                        out[f"steps_per_s/{role}"] = (count - before.get(role, 0)) / elapsed
                self._last = (now, dict(steps))
        for role, count in steps.items():
            out[f"steps/{role}"] = float(count)
        for name, lag in self.weights.lags().items():
            tag = f"staleness/{_ID_SUFFIX.sub('', name)}"
            out[tag] = max(out.get(tag, 0.0), float(lag))
        return out
