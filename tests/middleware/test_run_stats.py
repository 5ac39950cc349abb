"""run_stats: seconds per middleware summed over the run, speeds, the buffer's memory."""

from __future__ import annotations

import time

import pytest
from pipezero.middleware.run_stats import StatsContext, run_stats, stats_summary

from pipezero.framework import Task, middleware


@middleware(name="env_collect", reads=("env_step",), writes=("env_step",))
def collect(ctx: StatsContext) -> None:
    time.sleep(0.002)
    ctx.env_step += 10


@middleware(name="offpolicy_learn", reads=("train_iter",), writes=("train_iter",))
def learn(ctx: StatsContext):
    yield
    time.sleep(0.001)  # after the yield: timed too, since run_stats comes first
    ctx.train_iter += 1


class FakeBuffer:
    def memory_report(self) -> dict[str, float]:
        return {"ratio_to_frame": 1.1}


def test_sums_timings_and_reports_the_buffer_at_the_end() -> None:
    task = Task(StatsContext())
    for mw in (run_stats(FakeBuffer()), collect, learn):
        task.use(mw)
    ctx = task.run(max_steps=5)
    seconds = ctx.middleware_seconds
    assert seconds["env_collect"] >= 5 * 0.002 and seconds["offpolicy_learn"] >= 5 * 0.001
    assert ctx.buffer_memory == {"ratio_to_frame": 1.1}
    summary = stats_summary(ctx)
    assert summary["env_steps_per_s"] == pytest.approx(50 / seconds["env_collect"])
    assert summary["train_steps_per_s"] == pytest.approx(5 / seconds["offpolicy_learn"])
    assert summary["buffer_memory"] == {"ratio_to_frame": 1.1}


def test_speed_left_out_without_its_middleware_and_buffer_checked() -> None:
    task = Task(StatsContext())
    task.use(run_stats())
    task.use(learn)
    summary = stats_summary(task.run(max_steps=2))
    assert "env_steps_per_s" not in summary and summary["train_steps_per_s"] > 0
    assert summary["buffer_memory"] == {}
    with pytest.raises(TypeError, match="memory_report"):
        run_stats(object())
