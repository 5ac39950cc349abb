"""tb_logger: TensorBoard curves of training, evaluation, collection and middleware timings."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tensorboardX import SummaryWriter
from tensorboardX.proto.summary_pb2 import Summary

from pipezero.framework import Event, Middleware, Task, TrainContext, middleware
from pipezero.tracking import scalars

__all__ = ["TB_DIR", "scalars", "tb_logger"]

logger = logging.getLogger(__name__)

#: Sub-directory of ``exp_dir`` holding the TensorBoard event files.
TB_DIR = "tb"


class _TBLogger:
    """The writer and its lock; shared by the step function and the event handlers."""

    def __init__(
        self,
        logdir: Path,
        flush_secs: int,
        async_stats_secs: float | None,
        video_dir: Path | None = None,
    ) -> None:
        self.logdir = logdir
        self.video_dir = video_dir
        self.flush_secs = flush_secs
        self.async_stats_secs = async_stats_secs
        self.writer: SummaryWriter | None = None
        self.lock = threading.Lock()
        self.task: Task | None = None
        self.last_stats = -math.inf

    def _writer(self) -> SummaryWriter:  # under self.lock
        if self.writer is None:
            self.logdir.mkdir(parents=True, exist_ok=True)
            self.writer = SummaryWriter(logdir=str(self.logdir), flush_secs=self.flush_secs)
            logger.info("TensorBoard logs in %s", self.logdir)
        return self.writer

    def add(self, values: Mapping[str, float], step: int) -> None:
        if not values:
            return
        with self.lock:
            writer = self._writer()
            for tag, value in values.items():
                writer.add_scalar(tag, value, global_step=step)

    def add_video(self, step: int) -> None:
        """The newest GIF the evaluator wrote in ``video_dir`` as ``eval/video`` at ``step``
        (an image summary holding the GIF, which TensorBoard's image tab plays); every GIF
        found is removed."""
        gifs = sorted(self.video_dir.glob("episode_*.gif")) if self.video_dir else []
        if not gifs:
            return
        data = gifs[-1].read_bytes()
        for gif in gifs:
            gif.unlink(missing_ok=True)
        width, height = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
        image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=data)
        summary = Summary(value=[Summary.Value(tag="eval/video", image=image)])
        with self.lock:
            self._writer()._get_file_writer().add_summary(summary, step)

    def step(self, ctx: TrainContext) -> Iterator[None]:
        yield  # log once the whole chain has run: train_output and every timing are known
        self.add(scalars(ctx.train_output, "train"), ctx.train_iter)
        returns = [float(r) for r in ctx.collect_episode_returns]
        if returns:
            stats = {
                "collect/episode_return_mean": float(np.mean(returns)),
                "collect/episode_return_max": float(np.max(returns)),
            }
            self.add(stats, ctx.env_step)
        timings = {f"time/{name}": seconds for name, seconds in ctx.timings.items()}
        if timings:
            timings["time/step"] = sum(ctx.timings.values())
        self.add(timings, ctx.task_step)
        self.add_async_stats(ctx)

    def add_async_stats(self, ctx: TrainContext) -> None:
        """``async/...`` figures of the running async run, every ``async_stats_secs``."""
        monitor = None if self.task is None else self.task.async_monitor
        if monitor is None or self.async_stats_secs is None:
            return
        now = time.monotonic()
        if now - self.last_stats < self.async_stats_secs:
            return
        self.last_stats = now
        stats = {f"async/{tag}": value for tag, value in monitor.snapshot().items()}
        self.add(stats, ctx.task_step)

    def on_eval_done(self, ctx: TrainContext, eval_result: Any) -> None:
        self.add(scalars(eval_result, "eval"), ctx.env_step)
        self.add_video(ctx.env_step)

    def close(self, ctx: TrainContext, reason: object) -> None:
        """Flush and close the event file (``Event.FINISH`` and ``Event.ERROR``)."""
        with self.lock:
            if self.writer is not None:
                self.writer.flush()
                self.writer.close()
                self.writer = None

    def setup(self, task: Task) -> None:
        self.task = task
        task.on(Event.EVAL_DONE, self.on_eval_done)
        task.on(Event.FINISH, self.close)
        task.on(Event.ERROR, self.close)


def tb_logger(
    exp_dir: str | os.PathLike[str],
    flush_secs: int = 10,
    async_stats_secs: float | None = 1.0,
    video_dir: str | os.PathLike[str] | None = None,
) -> Middleware:
    """Write TensorBoard scalars to ``exp_dir/tb`` (open with ``tensorboard --logdir exp_dir``).

    ==========================================  ===============  ==============================
    tag                                         x axis           source
    ==========================================  ===============  ==============================
    ``train/<key>``                             ``train_iter``   every number in
                                                                 ``ctx.train_output`` (a list of
                                                                 dicts is averaged)
    ``eval/<key>`` (e.g. ``eval/return_mean``,  ``env_step``     every number in the
    ``eval/return_max``)                                         ``eval_result`` of
                                                                 ``Event.EVAL_DONE``
    ``collect/episode_return_mean|max``         ``env_step``     ``ctx.collect_episode_returns``
                                                                 (when episodes finished)
    ``time/<middleware>``, ``time/step``        ``task_step``    ``ctx.timings`` (seconds)
    ``async/queue_depth/<writer>_to_<reader>``  ``task_step``    async mode only:
    ``async/staleness/<subscriber>``,           (every           ``task.async_monitor``
    ``async/steps_per_s/<role>``,               ``async_stats_   (:class:`~pipezero.framework.
    ``async/steps/<role>``                      secs``)          AsyncMonitor`)
    ``eval/video`` (an animated GIF in the      ``env_step``     ``video_dir``: the newest GIF
    image tab)                                                   there at ``Event.EVAL_DONE``
    ==========================================  ===============  ==============================

    Logging happens after this middleware's ``yield``, so the whole step is seen wherever it
    sits in the chain (in async mode: the step of the role it joins; placed after the
    learner's middleware, it gets each collector step's ``collect_episode_returns`` with that
    step's segments, because the read is declared). The event file is created at the first
    value, flushed every ``flush_secs`` seconds and closed on ``Event.FINISH`` (or
    ``Event.ERROR``, so the curves up to a crash are on disk).

    In async mode the ``async/`` figures show how the roles keep up with each other: items
    waiting in each channel (``channel_capacity`` at most: full means the writer waits on the
    reader), how many train iterations behind the learner's newest weights the collector
    (``staleness/env_collect``) and the evaluator (``staleness/interval_eval``) act, and each
    role's steps per second (the collector's and evaluator's counted in their processes).

    Args:
        exp_dir: the run directory.
        flush_secs: seconds between flushes to disk.
        async_stats_secs: seconds between two ``async/`` snapshots (``None``: none).
        video_dir: where an evaluation environment writes its finished episodes as GIFs
            (``pipezero train --eval-video``: :class:`pipezero.render.EpisodeGifWriter`, in
            whichever process the evaluator runs); each evaluation's newest is logged as
            ``eval/video`` and the files are removed. ``None``: no video.
    """
    if isinstance(flush_secs, bool) or not isinstance(flush_secs, int) or flush_secs < 1:
        raise ValueError(f"tb_logger: flush_secs must be an int >= 1, got {flush_secs!r}")
    if async_stats_secs is not None and not async_stats_secs >= 0:
        raise ValueError(
            f"tb_logger: async_stats_secs must be >= 0 or None, got {async_stats_secs!r}"
        )
    video = None if video_dir is None else Path(video_dir)
    tb = _TBLogger(Path(exp_dir) / TB_DIR, flush_secs, async_stats_secs, video)
    return middleware(
        tb.step,
        name="tb_logger",
        reads=("train_iter", "env_step", "timings", "collect_episode_returns"),
        setup=tb.setup,
    )
