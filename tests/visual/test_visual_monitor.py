"""visual_monitor on a toy chain: frames from segments when no environment is watched, the
evaluation curve from EVAL_DONE, and the server gone with the run."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from pipezero.middleware.visual import visual_monitor

from pipezero.framework import Event, Task, TrainContext, middleware
from pipezero.visual import FrameTap


def _run(segments, steps=2):
    tap = FrameTap(max_envs=2)
    tap.want()

    def collect(ctx):
        ctx.new_segments = segments
        ctx.env_step += 10
        task.emit(Event.EVAL_DONE, ctx, {"return_mean": float(ctx.env_step)})

    task = Task(TrainContext())
    task.use(middleware(collect, role="collector", writes=("new_segments", "env_step")))
    monitor = visual_monitor(tap, title="toy", total_env_steps=100)
    task.use(monitor)
    task.run(max_steps=steps)
    return tap, monitor


def test_segments_give_pictures_when_no_environment_is_watched():
    board = np.zeros((3, 3, 3), dtype=np.float32)
    board[0, 1, 1] = 1
    segment = SimpleNamespace(obs=np.stack([board, board]), length=1)
    tap, monitor = _run([segment, segment])
    assert sorted(tap.latest()) == [0, 1] and tap.notes() == {}
    visual = monitor.fn.__self__
    snapshot = visual.board.snapshot()
    assert snapshot["eval_curve"] == [[10, 10.0], [20, 20.0]] and snapshot["env_step"] == 20
    assert visual.closed and not visual.server.running  # stopped at FINISH


def test_a_chain_without_drawable_observations_says_so():
    tap, _ = _run([])
    assert tap.latest() == {} and "no picture" in tap.notes()[0]


def test_a_bad_port_is_refused():
    with pytest.raises(ValueError, match="port"):
        visual_monitor(FrameTap(), port=70000)
