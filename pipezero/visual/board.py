"""What the visual page shows of a run, written by the run's step and read by the server.

:class:`RunBoard` keeps the latest counters and ``train_output`` by reference after every
step (two assignments), samples them at most twice a second for the curves, and computes
everything else (steps/s, loss values, the JSON) only when the server asks.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from pipezero.tracking import scalars

__all__ = ["RunBoard"]

#: Seconds between two samples of the counters and losses.
SAMPLE_SECS = 0.5
#: Seconds of samples over which env steps/s are measured.
RATE_WINDOW_SECS = 10.0


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class RunBoard:
    """The run as the page sees it.

    Args:
        title: shown at the top of the page (the recipe's name).
        info: fixed facts about the run shown under the title (mode, seed, device, ...).
        total_env_steps: the env step budget (``None``: unknown).
        async_stats: returns the async monitor's snapshot without rates (``{tag: value}``:
            ``queue_depth/...``, ``steps/<role>``, ``staleness/...``) or ``None`` (sync mode,
            or before the run started).
    """

    def __init__(
        self,
        title: str,
        info: Mapping[str, Any] | None = None,
        total_env_steps: int | None = None,
        async_stats: Callable[[], Mapping[str, float] | None] | None = None,
    ) -> None:
        self.title = title
        self.info = dict(info or {})
        self.total_env_steps = total_env_steps
        self.async_stats = async_stats
        self.start = time.monotonic()
        self.env_step = 0
        self.train_iter = 0
        self.finished: str | None = None
        self._train_output: Any = None
        self._next_sample = 0.0
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, int, int]] = deque(maxlen=4 * int(RATE_WINDOW_SECS))
        self._losses: deque[tuple[int, dict[str, float]]] = deque(maxlen=600)
        self._evals: deque[tuple[int, float]] = deque(maxlen=600)
        self._role_steps: deque[tuple[float, dict[str, float]]] = deque()

    def record_step(self, env_step: int, train_iter: int, train_output: Any) -> None:
        """After every step: keep the counters and the latest ``train_output``; sample them
        at most every :data:`SAMPLE_SECS` (the loss values are read then)."""
        self.env_step, self.train_iter = env_step, train_iter
        if train_output:
            self._train_output = train_output
        now = time.monotonic()
        if now < self._next_sample:
            return
        self._next_sample = now + SAMPLE_SECS
        losses = self._loss_values()
        with self._lock:
            self._samples.append((now, env_step, train_iter))
            if losses and (not self._losses or self._losses[-1][0] != train_iter):
                self._losses.append((train_iter, losses))

    def record_eval(self, env_step: int, return_mean: float) -> None:
        """An evaluation finished at ``env_step`` with mean return ``return_mean``."""
        with self._lock:
            self._evals.append((env_step, return_mean))

    def record_finish(self, reason: str) -> None:
        self.finished = reason

    def _loss_values(self) -> dict[str, float]:
        """The numbers of the latest ``train_output`` whose name says loss."""
        if self._train_output is None:
            return {}
        values = scalars(self._train_output, "train")
        return {
            tag.removeprefix("train/"): value
            for tag, value in values.items()
            if "loss" in tag and math.isfinite(value)
        }

    def _rate(self, samples: list[tuple[float, int, int]], column: int) -> float | None:
        """Steps per second of ``column`` (1: env steps, 2: train iterations) over the last
        :data:`RATE_WINDOW_SECS` of samples."""
        if len(samples) < 2:
            return None
        last = samples[-1]
        first = next((s for s in samples if last[0] - s[0] <= RATE_WINDOW_SECS), samples[0])
        if first is last:
            first = samples[-2]
        elapsed = last[0] - first[0]
        return (last[column] - first[column]) / elapsed if elapsed > 0 else None

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows, as JSON-ready values."""
        with self._lock:
            samples = list(self._samples)
            losses = list(self._losses)
            evals = list(self._evals)
        latest_losses = losses[-1][1] if losses else self._loss_values()
        train = scalars(self._train_output, "train") if self._train_output else {}
        buffer = train.get("train/buffer_transitions")
        loss_key = next(
            (k for k in ("total_loss", "loss") if k in latest_losses),
            min(latest_losses, default=None),
        )
        stats = None if self.async_stats is None else self.async_stats()
        return {
            "title": self.title,
            "info": self.info,
            "elapsed_s": time.monotonic() - self.start,
            "finished": self.finished,
            "env_step": self.env_step,
            "total_env_steps": self.total_env_steps,
            "train_iter": self.train_iter,
            "env_steps_per_s": _finite(self._rate(samples, 1)),
            "train_iters_per_s": _finite(self._rate(samples, 2)),
            "buffer_transitions": None if buffer is None else int(buffer),
            "losses": latest_losses,
            "loss_key": loss_key,
            "loss_curve": [[it, values[loss_key]] for it, values in losses if loss_key in values],
            "eval_curve": [[step, _finite(ret)] for step, ret in evals],
            "async": None if stats is None else self._async_figures(stats),
        }

    def _async_figures(self, stats: Mapping[str, float]) -> dict[str, dict[str, float]]:
        """The monitor's figures grouped (``{"queue_depth": {"a_to_b": 1}, ...}``), with
        each role's steps/s over the last :data:`RATE_WINDOW_SECS` of snapshots."""
        now = time.monotonic()
        steps = {tag[6:]: v for tag, v in stats.items() if tag.startswith("steps/")}
        with self._lock:
            self._role_steps.append((now, steps))
            while len(self._role_steps) > 2 and now - self._role_steps[1][0] >= RATE_WINDOW_SECS:
                self._role_steps.popleft()
            then, before = self._role_steps[0]
        out: dict[str, dict[str, float]] = {}
        for tag, value in stats.items():
            group, _, name = tag.partition("/")
            out.setdefault(group, {})[name] = value
        if now > then:
            out["steps_per_s"] = {
                role: (count - before.get(role, 0.0)) / (now - then)
                for role, count in steps.items()
            }
        return out
