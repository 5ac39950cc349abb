"""ckpt_saver: periodic, best and final checkpoints of a run (see :mod:`pipezero.checkpoint`)."""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipezero.checkpoint import (
    BEST_NAME,
    FINAL_NAME,
    RECOVERY_NAME,
    Stateful,
    buffer_files,
    build_state,
    checkpoint_dir,
    eval_mean_return,
    load_checkpoint,
    manifest_path,
    periodic_checkpoints,
    periodic_name,
    remove_leftovers,
    save_checkpoint,
)
from pipezero.config import plain_config
from pipezero.data.replay_buffer import ReplayBuffer
from pipezero.framework import Event, Middleware, Task, TrainContext, middleware

__all__ = ["ckpt_saver"]

logger = logging.getLogger(__name__)


class _Saver:
    """State of one ``ckpt_saver``; its methods are the step function and event handlers."""

    def __init__(
        self,
        exp_dir: Path,
        policy: Stateful,
        buffer: ReplayBuffer | None,
        save_freq: int,
        save_buffer: bool,
        keep_last: int,
        config: Mapping[str, Any] | None,
    ) -> None:
        self.dir = checkpoint_dir(exp_dir)
        self.policy = policy
        self.buffer = buffer if save_buffer else None
        self.save_freq = save_freq
        self.keep_last = keep_last
        self.config = None if config is None else plain_config(config)
        self.task: Task | None = None
        self.next_save: int | None = None  # train_iter of the next periodic checkpoint
        self.started = False
        self.best_seen: float | None = None  # return of best.pt, read lazily
        self.pending_best: float | None = None  # new best reported from another thread
        self.step_thread: int | None = None
        self.lock = threading.Lock()
        self.reported_async = False

    # -- events -----------------------------------------------------------------------------
    def setup(self, task: Task) -> None:
        self.task = task
        remove_leftovers(self.dir.parent)  # of writes interrupted in an earlier process
        self.next_save = self._next_multiple(task.ctx.train_iter)  # as of the run start
        self.step_thread = threading.get_ident()  # sync mode runs in the thread building it
        task.on(Event.EVAL_DONE, self.on_eval_done)
        task.on(Event.FINISH, self.on_finish)
        task.on(Event.ERROR, self.on_error)

    def on_eval_done(self, ctx: TrainContext, eval_result: Any) -> None:
        """Save ``best.pt`` now if called in the thread that runs this saver's steps (sync
        mode: the weights are those just evaluated); otherwise (async mode: the evaluator's
        thread) defer it to the saver's next step, so the policy is only read by the learner."""
        value = eval_mean_return(eval_result)
        with self.lock:
            if not value > self._best_seen():
                return
            self.best_seen = value
            if threading.get_ident() != self.step_thread:
                self.pending_best = value
                return
        self._save_best(ctx, value)

    def on_finish(self, ctx: TrainContext, reason: str) -> None:
        self._flush_best(ctx)
        state = build_state(
            ctx, self.policy, kind="final", reason=reason, run_state=self._run_state()
        )
        self._write(ctx, self.dir / FINAL_NAME, state, self.buffer)

    def on_error(self, ctx: TrainContext, exc: Exception) -> None:
        """A middleware raised: keep what the run had for inspection in ``recovery.pt`` (the
        failed step may be half done, so it is not resumed from unless asked by path)."""
        reason = f"{type(exc).__name__}: {exc}"
        state = build_state(
            ctx, self.policy, kind="recovery", reason=reason, run_state=self._run_state()
        )
        self._write(ctx, self.dir / RECOVERY_NAME, state, self.buffer)

    # -- step -------------------------------------------------------------------------------
    def step(self, ctx: TrainContext) -> None:
        self.step_thread = threading.get_ident()
        if self.next_save is None:
            raise RuntimeError(
                "ckpt_saver was called outside a task; add it with task.use(ckpt_saver(...))"
            )
        if not self.started:
            self._warn_other_run(ctx)
            self.started = True
        self._flush_best(ctx)
        if ctx.train_iter >= self.next_save:
            path = self.dir / periodic_name(ctx.train_iter)
            state = build_state(ctx, self.policy, kind="periodic", run_state=self._run_state())
            self._write(ctx, path, state, self.buffer)
            self._prune()
            self.next_save = self._next_multiple(ctx.train_iter)

    def _next_multiple(self, train_iter: int) -> int:
        return (train_iter // self.save_freq + 1) * self.save_freq

    def _warn_other_run(self, ctx: TrainContext) -> None:
        ahead = [p.name for it, p in periodic_checkpoints(self.dir) if it > ctx.train_iter]
        if ahead:
            logger.warning(
                "%s already holds checkpoints beyond train_iter %d (%s), probably from another "
                "run; resume that run or give this one its own exp_dir",
                self.dir,
                ctx.train_iter,
                ", ".join(ahead),
            )

    # -- helpers ----------------------------------------------------------------------------
    def _run_state(self) -> dict[str, Any]:
        """The states of the task's state providers (the collector's unfinished segments and
        environments...). In async mode the other roles run concurrently (in their own
        thread or process), so only providers of the saver's role are read; the others are
        left out, with one log line."""
        assert self.task is not None
        providers = self.task.state_providers
        if self.task.mode != "async":
            return providers.state_dict()
        left_out = [name for name in providers.names if providers.role(name) != "learner"]
        if left_out and not self.reported_async:
            self.reported_async = True
            logger.warning(
                "async mode: checkpoints do not hold the run state of %s (other roles run "
                "concurrently): a resumed run starts new episodes, and the transitions of "
                "unfinished segments (counted in env_step) are lost, as are segments in "
                "flight to the learner; resume a sync run to continue episodes",
                ", ".join(left_out),
            )
        return providers.state_dict(roles=("learner",))

    def _best_seen(self) -> float:
        if self.best_seen is None:
            path = self.dir / BEST_NAME
            self.best_seen = -math.inf
            if path.is_file():
                value = load_checkpoint(path, mmap=True, verify=False)["meta"].get("eval_return")
                self.best_seen = -math.inf if value is None else float(value)
        return self.best_seen

    def _flush_best(self, ctx: TrainContext) -> None:
        with self.lock:
            value, self.pending_best = self.pending_best, None
        if value is not None:
            self._save_best(ctx, value)

    def _save_best(self, ctx: TrainContext, value: float) -> None:
        state = build_state(ctx, self.policy, kind="best", eval_return=value)
        self._write(ctx, self.dir / BEST_NAME, state, None)
        logger.info("new best mean eval return %.4g: %s", value, self.dir / BEST_NAME)

    def _write(
        self, ctx: TrainContext, path: Path, state: dict[str, Any], buffer: ReplayBuffer | None
    ) -> None:
        if self.config is not None:
            state["config"] = self.config
        save_checkpoint(path, state, buffer)
        logger.info("checkpoint saved: %s (train_iter=%d)", path, ctx.train_iter)
        assert self.task is not None  # writes happen in steps or handlers, after setup()
        self.task.emit(Event.CKPT_SAVED, ctx, path)

    def _prune(self) -> None:
        """Delete periodic checkpoints (and their buffers) beyond the newest ``keep_last``:
        the checkpoint first, so a kill halfway leaves files ``remove_leftovers`` deletes,
        never a checkpoint without its buffer or manifest."""
        periodic = periodic_checkpoints(self.dir)
        for _, path in periodic[: max(0, len(periodic) - self.keep_last)]:
            path.unlink(missing_ok=True)
            manifest_path(path).unlink(missing_ok=True)
            for extra in buffer_files(path):
                extra.unlink(missing_ok=True)
            logger.debug("removed old checkpoint %s", path)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"ckpt_saver: {name} must be an int >= 1, got {value!r}")
    return value


def ckpt_saver(
    exp_dir: str | os.PathLike[str],
    policy: Stateful,
    buffer: ReplayBuffer | None = None,
    save_freq: int | None = None,
    save_buffer: bool = False,
    keep_last: int = 3,
    config: Mapping[str, Any] | None = None,
) -> Middleware:
    """Write checkpoints of the run under ``exp_dir/ckpt`` (layout in :mod:`pipezero.checkpoint`).

    - **periodic** ``iter_XXXXXXXX.pt`` each time ``ctx.train_iter`` reaches a multiple of
      ``save_freq`` (checked at this middleware's place in the chain); only the newest
      ``keep_last`` are kept.
    - **best** ``best.pt`` when an evaluation (``Event.EVAL_DONE``) reports a mean return
      (``eval_result["return_mean"]``) above the one stored in ``best.pt``.
    - **final** ``final.pt`` when the run finishes (``Event.FINISH``: finish(), max_steps,
      Ctrl-C), whatever this middleware's position in the chain.
    - **recovery** ``recovery.pt`` when a middleware raised (``Event.ERROR``); resume picks
      the newest periodic or final checkpoint, not this one, unless given its path.

    Periodic, final and recovery checkpoints hold the run state of the task's state providers
    (``task.state_providers``: the collector's unfinished segments and environments), so that
    :func:`pipezero.checkpoint.resume` continues collecting where the run stopped; in async
    mode only providers of the learner role (a log line names those left out).

    Every write is atomic, comes with a manifest holding the sha256 of the checkpoint and its
    buffer, and emits ``Event.CKPT_SAVED`` with ``(ctx, path)``. When the task starts, what
    writes interrupted in an earlier process left (temporary files, orphan buffers) is removed
    (:func:`pipezero.checkpoint.remove_leftovers`). Resume a run with
    :func:`pipezero.checkpoint.resume`.

    Args:
        exp_dir: the run directory.
        policy: saved through ``state_dict()``.
        buffer: the replay buffer, saved beside periodic and final checkpoints when
            ``save_buffer`` is true.
        save_freq: train iterations between periodic checkpoints (default: the config's
            ``save_freq`` when ``config`` has one, else 1000).
        save_buffer: also save ``buffer`` (can be large: one copy per kept checkpoint).
        keep_last: periodic checkpoints kept on disk.
        config: the run's config, stored in every checkpoint as ``state["config"]`` (plain
            JSON types), so that a checkpoint file alone can rebuild its agent.
    """
    if save_freq is None:
        save_freq = (config or {}).get("save_freq", 1000)
    _positive_int("save_freq", save_freq)
    _positive_int("keep_last", keep_last)
    if save_buffer and buffer is None:
        raise ValueError(
            "ckpt_saver: save_buffer=True but no buffer was given; pass buffer=your_buffer"
        )
    saver = _Saver(Path(exp_dir), policy, buffer, save_freq, save_buffer, keep_last, config)
    return middleware(
        saver.step,
        name="ckpt_saver",
        role="learner",
        reads=("train_iter",),
        setup=saver.setup,
    )
