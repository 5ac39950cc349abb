"""visual_monitor: feed the visual mode's page (``--visual``) from the run and serve it."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from pipezero.checkpoint import eval_mean_return
from pipezero.framework import Event, Middleware, Task, TrainContext, middleware
from pipezero.visual import FrameTap, RunBoard, VisualServer

__all__ = ["visual_monitor"]

logger = logging.getLogger("pipezero.visual")


class _Visual:
    """The board, the server and the task whose async monitor the board reads."""

    def __init__(self, tap: FrameTap, port: int, board: RunBoard) -> None:
        self.tap = tap
        self.board = board
        board.async_stats = self.async_stats
        self.server = VisualServer(board, tap, port=port)
        self.task: Task | None = None
        self.closed = False
        self.shown_any = False

    def async_stats(self) -> Mapping[str, float] | None:
        monitor = None if self.task is None else self.task.async_monitor
        return None if monitor is None else monitor.snapshot(rates=False)

    def step(self, ctx: TrainContext) -> Iterator[None]:
        if not self.closed and not self.server.running:
            url = self.server.start()
            logger.info("visual mode: open %s (live page of this run, on this machine only)", url)
        yield  # after the whole chain: this step's counters and train_output are known
        self.board.record_step(ctx.env_step, ctx.train_iter, getattr(ctx, "train_output", None))
        if self.tap.attached == 0 and self.tap.observations_due():
            self.show_segments(getattr(ctx, "new_segments", None) or [])

    def show_segments(self, segments: list[Any]) -> None:
        """Chains whose environments the tap does not wrap (board-game self-play): the last
        observation of each of the newest segments."""
        shown = 0
        for index, segment in enumerate(segments[-self.tap.max_envs :]):
            obs = getattr(segment, "obs", None)
            if isinstance(obs, np.ndarray) and len(obs):
                last = max(int(getattr(segment, "length", 1)) - 1, 0)
                self.tap.put_observation(index, obs[last])
                shown += 1
        self.shown_any = self.shown_any or shown > 0
        if not self.shown_any:  # e.g. a text task: say so rather than wait forever
            self.tap.note(0, "no picture: the collector handed no observation that can be drawn")

    def on_eval_done(self, ctx: TrainContext, eval_result: Any) -> None:
        try:
            value = eval_mean_return(eval_result)
        except TypeError:  # a match or accuracy result without a mean return
            return
        self.board.record_eval(ctx.env_step, value)

    def close(self, ctx: TrainContext, reason: object) -> None:
        """Stop serving (``Event.FINISH`` and ``Event.ERROR``): the page goes with the run."""
        self.closed = True
        self.board.record_finish(reason if isinstance(reason, str) else "error")
        self.server.stop()

    def setup(self, task: Task) -> None:
        self.task = task
        task.on(Event.EVAL_DONE, self.on_eval_done)
        task.on(Event.FINISH, self.close)
        task.on(Event.ERROR, self.close)


def visual_monitor(
    tap: FrameTap,
    port: int = 0,
    *,
    title: str = "run",
    info: Mapping[str, Any] | None = None,
    total_env_steps: int | None = None,
) -> Middleware:
    """Serve a live page of the run on ``http://127.0.0.1:PORT/`` (``--visual``).

    The page shows the pictures of the collector environments (``tap``: the environments it
    wraps, or else the last observations of the newest ``ctx.new_segments`` drawn as grids),
    env steps and env steps/s, train iterations, the replay buffer's size
    (``train_output["buffer_transitions"]``), the latest losses and a loss curve, the
    evaluation curve (``Event.EVAL_DONE``) and, in async mode, the queue depths, weight
    staleness and steps/s per role of ``task.async_monitor``.

    The server starts at the first step (the URL is logged on the ``pipezero.visual``
    logger) and stops on ``Event.FINISH`` or ``Event.ERROR``. After every step the
    middleware keeps two counters and a reference to ``train_output``; everything else is
    computed when the page asks. Place it after the learner's middleware (in async mode it
    joins their role, where ``env_step`` is mirrored and ``train_output`` is written).

    Args:
        tap: the collector environments' pictures (:class:`~pipezero.visual.FrameTap`).
        port: the port to listen on; 0 picks a free one.
        title: the page's title (the recipe).
        info: facts shown under the title (``{"mode": "sync", "seed": 0}``).
        total_env_steps: the env step budget shown beside the env steps.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"visual_monitor: port must be an int in [0, 65535], got {port!r}")
    visual = _Visual(tap, port, RunBoard(title, info, total_env_steps))
    return middleware(
        visual.step, name="visual_monitor", reads=("env_step", "train_iter"), setup=visual.setup
    )
