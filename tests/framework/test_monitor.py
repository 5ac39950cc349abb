"""AsyncMonitor: queue depths, steps per role (also of forked roles) and weight staleness of
a running async run, and tb_logger's async/ figures."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from pipezero.framework import (
    AsyncMonitor,
    ProcessBackend,
    Task,
    ThreadBackend,
    TrainContext,
    WeightStore,
    middleware,
)


def toy_chain(task: Task, snapshots: list, collect_sleep: float = 0.0) -> None:
    """A collector that acts with pulled weights, a learner that publishes after every
    step and takes a snapshot of the monitor from its thread."""
    refs: dict = {}

    def setup_collect(t: Task) -> None:
        refs["sub"] = t.weights.subscribe("env_collect-0123abcd")

    def collect(ctx: TrainContext) -> None:
        refs["sub"].pull()
        time.sleep(collect_sleep)
        ctx.new_segments = [ctx.env_step]
        ctx.env_step += 1

    def learn(ctx: TrainContext) -> None:
        ctx.train_iter += 3
        task.weights.publish({"w": ctx.train_iter}, version=ctx.train_iter)
        monitor = task.async_monitor
        assert isinstance(monitor, AsyncMonitor)
        snapshots.append(monitor.snapshot())

    task.use(
        middleware(
            collect,
            name="collect",
            role="collector",
            reads=("env_step",),
            writes=("new_segments", "env_step"),
            setup=setup_collect,
        )
    )
    task.use(
        middleware(
            learn,
            name="learn",
            role="learner",
            reads=("new_segments", "train_iter"),
            writes=("train_iter",),
        )
    )


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_snapshot_reports_queues_steps_and_staleness(backend):
    if backend == "process" and sys.platform != "linux":
        pytest.skip("the process backend forks")
    host = ThreadBackend() if backend == "thread" else ProcessBackend(("collector",))
    task = Task(TrainContext(), channel_capacity=2, backend=host, weights=WeightStore())
    snapshots: list = []
    toy_chain(task, snapshots, collect_sleep=0.01)
    assert task.async_monitor is None  # before the run
    task.run(max_steps=20, mode="async")
    assert len(snapshots) == 20
    last = snapshots[-1]
    assert 0 <= last["queue_depth/collector_to_learner"] <= 2
    assert last["steps/learner"] == 19  # the snapshot is taken inside the learner's 20th step
    assert last["steps/collector"] >= 19  # counted in the forked collector too
    assert last["steps_per_s/collector"] > 0 and "steps_per_s/learner" not in snapshots[0]
    staleness = [s["staleness/env_collect"] for s in snapshots if "staleness/env_collect" in s]
    assert staleness and all(v >= 0 and v % 3 == 0 for v in staleness)  # train iterations


def test_sync_runs_have_no_monitor():
    task = Task(TrainContext())
    task.use(lambda ctx: None)
    task.run(max_steps=1)
    assert task.async_monitor is None


def test_weight_store_lags_count_versions_behind():
    store = WeightStore()
    a, b = store.subscribe("a"), store.subscribe("b")
    assert store.lags() == {}
    store.publish("w", 10)
    a.pull()
    store.publish("w", 25)
    assert store.lags() == {"a": 15}  # b never pulled
    b.pull()
    assert store.lags() == {"a": 15, "b": 0}
    a.close()
    assert store.lags() == {"b": 0}


def test_tb_logger_writes_async_figures_in_async_mode(tmp_path: Path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "middleware"))
    from pipezero.middleware import tb_logger
    from pipezero.middleware.logger import TB_DIR
    from test_logger import read_scalars

    task = Task(TrainContext(), channel_capacity=2, weights=WeightStore())
    toy_chain(task, [])
    task.use(tb_logger(tmp_path, async_stats_secs=0))
    task.run(max_steps=10, mode="async")
    tags = read_scalars(tmp_path / TB_DIR)
    assert "async/queue_depth/collector_to_learner" in tags
    assert "async/steps_per_s/collector" in tags
    assert "async/staleness/env_collect" in tags


def test_a_snapshot_without_rates_leaves_the_rate_interval_alone():
    class Board:
        count = 0

        def steps(self):
            return {"collector": self.count}

    class Weights:
        def lags(self):
            return {}

    board = Board()
    monitor = AsyncMonitor({}, board, Weights())
    monitor.snapshot()
    board.count = 10
    quiet = monitor.snapshot(rates=False)
    assert quiet == {"steps/collector": 10.0}
    board.count = 20
    assert monitor.snapshot()["steps_per_s/collector"] > 0  # measured from the first snapshot
    assert monitor._last[1] == {"collector": 20}
