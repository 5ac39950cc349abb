"""Kills during checkpoint writes: a real training process SIGKILLed at random moments, and a
writer that dies at each step of a write; every time, the old or the new pair is intact and
the directory resumes with no leftover file."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import pytest
import torch
from ckpt_toy import TinyNet, collect_and_learn, episode, leftover_files, new_buffer
from pipezero.middleware import ckpt_saver

from pipezero.checkpoint import (
    FINAL_NAME,
    build_state,
    checkpoint_dir,
    load_pair,
    resumable_checkpoints,
    resume,
    save_checkpoint,
)
from pipezero.framework import Event, Task, TrainContext

#: Transitions in the buffer of a fresh run: ~2.6 MB of observations, so the buffer file
#: takes a noticeable part of each step to write.
PREFILL = 600
KILLS = 8


def _train_until_killed(run_dir: Path, ready: Connection) -> None:
    """The killed process: runs of 3 steps, each resumed from the last, with a periodic
    checkpoint (and buffer) every step and the final one (and buffer) replaced in place at
    the end of each run. Tells ``ready`` after its first write."""
    torch.set_num_threads(1)
    logging.disable(logging.CRITICAL)
    told = False

    def saved(ctx: TrainContext, path: Path) -> None:
        nonlocal told
        if not told:
            ready.send(str(path))
            told = True

    deadline = time.monotonic() + 30  # never outlive a broken test
    while time.monotonic() < deadline:
        policy, buffer, ctx = TinyNet(0), new_buffer(), TrainContext()
        if resumable_checkpoints(run_dir):
            resume(run_dir, ctx, policy, buffer)
        else:
            buffer.extend(episode(PREFILL, np.random.default_rng(0)))
            ctx.env_step = buffer.num_transitions
        task = Task(ctx)
        task.on(Event.CKPT_SAVED, saved)
        task.use(collect_and_learn(policy, buffer))
        task.use(ckpt_saver(run_dir, policy, buffer, save_freq=1, save_buffer=True, keep_last=2))
        task.run(max_steps=3)


def test_sigkill_during_checkpoint_writes_leaves_a_resumable_directory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fork = multiprocessing.get_context("fork")
    rng = np.random.default_rng(0)
    ckpt_dir = checkpoint_dir(tmp_path)
    seen: list[list[str]] = []
    last_iter = 0
    for _ in range(KILLS):
        receive, send = fork.Pipe(duplex=False)
        child = fork.Process(target=_train_until_killed, args=(tmp_path, send), daemon=True)
        child.start()
        assert receive.poll(20), "the training process wrote no checkpoint"
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        assert child.exitcode == -signal.SIGKILL

        seen.append(leftover_files(ckpt_dir))
        candidates = resumable_checkpoints(tmp_path)
        for ckpt in candidates:  # every pair on disk is intact, even before the cleanup
            load_pair(ckpt, new_buffer())
        ctx, policy, buffer = TrainContext(), TinyNet(0), new_buffer()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="pipezero.checkpoint"):
            assert resume(tmp_path, ctx, policy, buffer) == candidates[0]  # the newest
        assert not caplog.records, [r.getMessage() for r in caplog.records]
        assert buffer.num_transitions == ctx.env_step  # policy and buffer of one moment
        assert ctx.train_iter >= last_iter
        last_iter = ctx.train_iter
        assert leftover_files(ckpt_dir) == []
    assert last_iter > 0
    print(f"leftovers found after each of {KILLS} kills (removed by resume): {seen}")


def _write_and_die_at(path: Path, rename: int, after: bool) -> None:
    """Replace the pair at ``path`` and die (``os._exit``, no cleanup runs, as under SIGKILL)
    just before or just after the ``rename``-th rename of the write: 1 the buffer, 2 the
    manifest listing both pairs, 3 the checkpoint, 4 the manifest listing the new pair."""
    real_replace = os.replace
    calls = 0

    def replace(src: str | Path, dst: str | Path) -> None:
        nonlocal calls
        calls += 1
        if calls == rename and not after:
            os._exit(0)
        real_replace(src, dst)
        if calls == rename and after:
            os._exit(0)

    os.replace = replace  # this process only: it dies in the write
    ctx = TrainContext(train_iter=2, env_step=NEW_STEPS)
    buffer = new_buffer()
    buffer.extend(episode(NEW_STEPS, np.random.default_rng(2)))
    save_checkpoint(path, build_state(ctx, TinyNet(2), kind="final"), buffer)
    os._exit(1)  # not reached


NEW_STEPS = 40


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("rename", [1, 2, 3, 4])
def test_a_kill_at_each_step_of_a_write_leaves_the_old_or_the_new_pair(
    tmp_path: Path, rename: int, after: bool
) -> None:
    path = checkpoint_dir(tmp_path) / FINAL_NAME
    old_buffer = new_buffer()
    old_buffer.extend(episode(20, np.random.default_rng(1)))
    save_checkpoint(
        path, build_state(TrainContext(train_iter=1), TinyNet(1), kind="final"), old_buffer
    )

    child = multiprocessing.get_context("fork").Process(
        target=_write_and_die_at, args=(path, rename, after)
    )
    child.start()
    child.join(20)
    assert child.exitcode == 0, "the write did not reach the kill point"

    state, saved = load_pair(path, new_buffer())  # intact, before any cleanup
    replaced = rename > 3 or (rename == 3 and after)
    assert state["counters"]["train_iter"] == (2 if replaced else 1)
    assert saved.num_transitions == (NEW_STEPS if replaced else 20)
    ctx, buffer = TrainContext(), new_buffer()
    assert resume(tmp_path, ctx, TinyNet(0), buffer) == path
    assert leftover_files(path.parent) == []
