"""progress_bar: a console progress bar of the run (tqdm), or progress lines in a log."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

from tqdm import tqdm

from pipezero.checkpoint import eval_mean_return
from pipezero.framework import Event, Middleware, Task, TrainContext, middleware

__all__ = ["progress_bar"]

logger = logging.getLogger("pipezero.progress")


def _fmt(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4g}"


class _Progress:
    """The bar (created at the first step), the last evaluation's mean return and the mean
    return of the last collection episodes."""

    def __init__(
        self,
        total: int | None,
        enable: bool | None,
        file: TextIO | None,
        mininterval: float,
        log_every: float,
    ) -> None:
        self.total = total
        self.log_every = log_every
        self.log_start: tuple[float, int] | None = None  # (time, env_step) of the first step
        self.next_log = 0.0
        self.enable = enable
        self.file = file
        self.mininterval = mininterval
        self.bar: tqdm | None = None
        self.last_eval: float | None = None
        self.last_collect: float | None = None
        self.best_eval = -math.inf

    def _open(self, ctx: TrainContext) -> tqdm:
        file = self.file if self.file is not None else sys.stderr
        enabled = self.enable if self.enable is not None else _is_tty(file)
        return tqdm(
            total=self.total,
            initial=ctx.env_step,
            desc="train",
            unit=" env steps",
            file=file,
            disable=not enabled,
            mininterval=self.mininterval,
            dynamic_ncols=True,
        )

    def _show(self, ctx: TrainContext) -> None:
        if self.bar is None:
            self.bar = self._open(ctx)
        bar = self.bar
        bar.set_postfix_str(
            f"iter={ctx.train_iter} eval={_fmt(self.last_eval)} "
            f"best={_fmt(max(self.best_eval, ctx.best_eval_return))} "
            f"collect={_fmt(self.last_collect)}",
            refresh=False,
        )
        bar.update(ctx.env_step - bar.n)
        if bar.disable and self.log_every > 0:
            self._log(ctx)

    def _log(self, ctx: TrainContext, final: bool = False) -> None:
        """Without a bar: one line every ``log_every`` seconds (and a last one at the end)."""
        now = time.monotonic()
        if self.log_start is None:
            self.log_start = (now, ctx.env_step)
            self.next_log = now + self.log_every
        if now < self.next_log and not final:
            return
        self.next_log = now + self.log_every
        elapsed = max(now - self.log_start[0], 1e-9)
        rate = (ctx.env_step - self.log_start[1]) / elapsed
        eta = "-" if not final else "0 (finished)"
        if self.total is not None and rate > 0 and not final:
            eta = f"{max(self.total - ctx.env_step, 0) / rate / 60:.1f} min"
        total = f"/{self.total}" if self.total is not None else ""
        logger.info(
            "env_step %d%s (%.1f/s) train_iter %d eval %s best %s collect %s eta %s",
            ctx.env_step,
            total,
            rate,
            ctx.train_iter,
            _fmt(self.last_eval),
            _fmt(max(self.best_eval, ctx.best_eval_return)),
            _fmt(self.last_collect),
            eta,
        )

    def step(self, ctx: TrainContext) -> Iterator[None]:
        yield  # after the whole chain: this step's env steps and updates are counted
        if ctx.collect_episode_returns:
            returns = ctx.collect_episode_returns
            self.last_collect = sum(returns) / len(returns)
        self._show(ctx)

    def on_eval_done(self, ctx: TrainContext, eval_result: Any) -> None:
        self.last_eval = eval_mean_return(eval_result)
        self.best_eval = max(self.best_eval, self.last_eval, ctx.best_eval_return)

    def close(self, ctx: TrainContext, reason: object) -> None:
        """Final redraw and close (``Event.FINISH`` and ``Event.ERROR``)."""
        if self.bar is None:
            return
        self._show(ctx)
        if self.bar.disable and self.log_every > 0:
            self._log(ctx, final=True)
        self.bar.refresh()
        self.bar.close()
        self.bar = None

    def setup(self, task: Task) -> None:
        task.on(Event.EVAL_DONE, self.on_eval_done)
        task.on(Event.FINISH, self.close)
        task.on(Event.ERROR, self.close)


def _is_tty(file: TextIO) -> bool:
    isatty = getattr(file, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


def progress_bar(
    total_env_steps: int | None,
    enable: bool | None = None,
    file: TextIO | None = None,
    mininterval: float = 0.5,
    log_every: float = 30.0,
) -> Middleware:
    """Show a progress bar of environment steps with training status.

    The bar counts ``ctx.env_step`` towards ``total_env_steps`` and shows env steps per second
    and the time left (ETA), followed by ``iter=`` (``ctx.train_iter``), ``eval=`` (mean return
    of the last ``Event.EVAL_DONE``), ``best=`` (best mean return: ``ctx.best_eval_return``
    or the best evaluation seen) and ``collect=`` (mean return of the collection episodes
    that finished last, from ``ctx.collect_episode_returns``). It updates after each step
    (after this middleware's ``yield``) and closes on ``Event.FINISH`` or ``Event.ERROR``. In
    async mode place it after the learner's middleware, so that it shares their role
    (``env_step`` is mirrored from the collector, and the declared read of
    ``collect_episode_returns`` brings each collector step's returns with its segments).

    Args:
        total_env_steps: the run's budget of environment steps (``None``: unknown, no ETA).
        enable: ``None`` shows the bar only when ``file`` is a terminal (so logs of batch jobs
            stay clean); ``True``/``False`` force it on or off.
        file: where to draw (default ``sys.stderr``).
        mininterval: seconds between redraws at most.
        log_every: when the bar is off, seconds between progress lines logged at INFO level
            on the ``pipezero.progress`` logger (env steps, steps/s, train iterations, last
            and best evaluation, ETA), plus one at the end; 0: none.
    """
    if total_env_steps is not None and (
        isinstance(total_env_steps, bool)
        or not isinstance(total_env_steps, int)
        or total_env_steps < 1
    ):
        raise ValueError(
            f"progress_bar: total_env_steps must be None or an int >= 1, got {total_env_steps!r}"
        )
    if enable not in (None, True, False):
        raise ValueError(f"progress_bar: enable must be None, True or False, got {enable!r}")
    if isinstance(log_every, bool) or not isinstance(log_every, (int, float)) or log_every < 0:
        raise ValueError(f"progress_bar: log_every must be a number >= 0, got {log_every!r}")
    progress = _Progress(total_env_steps, enable, file, mininterval, float(log_every))
    return middleware(
        progress.step,
        name="progress_bar",
        reads=("env_step", "train_iter", "collect_episode_returns"),
        setup=progress.setup,
    )
