"""tb_logger: TensorBoard event files with training, evaluation, collection and timing tags."""

from __future__ import annotations

import dataclasses
import struct
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from mw_toy import TinyPolicy, fixed_updates, toy_collect, toy_eval, toy_learn
from pipezero.middleware import tb_logger
from pipezero.middleware.logger import TB_DIR, scalars
from tensorboardX.proto import event_pb2

from pipezero.framework import ProcessBackend, Task, ThreadBackend, TrainContext, middleware


def read_scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` from the TFRecord event files in ``logdir``.

    A record is ``uint64 length | uint32 crc | data | uint32 crc`` (little endian); ``data``
    is a serialized ``Event`` protobuf.
    """
    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        raw = path.read_bytes()
        pos = 0
        while pos < len(raw):
            (length,) = struct.unpack("<Q", raw[pos : pos + 8])
            event = event_pb2.Event.FromString(raw[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                out[value.tag].append((event.step, value.simple_value))
    return dict(out)


@middleware(role="collector", reads=("env_step",), writes=("collect_episode_returns",))
def episode_returns(ctx: TrainContext) -> None:
    ctx.collect_episode_returns = [1.0, 3.0]


def test_event_file_has_the_expected_tags(tmp_path: Path) -> None:
    policy = TinyPolicy()
    task = Task(TrainContext())
    task.use(toy_eval([0.5, 1.5])).use(toy_collect()).use(episode_returns)
    task.use(tb_logger(tmp_path))  # before the learner: it logs after the whole chain anyway
    task.use(fixed_updates(2)).use(toy_learn(policy))
    ctx = task.run(max_steps=3)

    logged = read_scalars(tmp_path / TB_DIR)
    assert {
        "train/total_loss",
        "eval/return_mean",
        "eval/return_max",
        "eval/episodes",
        "collect/episode_return_mean",
        "collect/episode_return_max",
        "time/toy_learn",
        "time/tb_logger",
        "time/step",
    } <= set(logged)
    assert [step for step, _ in logged["train/total_loss"]] == [2, 4, 6]  # x = train_iter
    assert [value for _, value in logged["eval/return_mean"]] == [0.5, 1.5]
    assert logged["eval/return_max"][1][1] == 2.5
    assert logged["eval/return_mean"][0][0] == 0  # x = env_step at the evaluation
    assert logged["collect/episode_return_mean"][-1] == (ctx.env_step, 2.0)
    assert logged["collect/episode_return_max"][-1] == (ctx.env_step, 3.0)
    assert [step for step, _ in logged["time/step"]] == [0, 1, 2]  # x = task_step (0-based)
    assert all(v >= 0 for _, v in logged["time/toy_learn"])


@middleware(role="collector", reads=("env_episode",), writes=("collect_episode_returns",))
def numbered_returns(ctx: TrainContext) -> None:
    """One finished episode per collector step; its return is its episode number."""
    ctx.collect_episode_returns = [float(ctx.env_episode)]


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_async_learner_logs_the_collectors_episode_returns(backend: str, tmp_path: Path) -> None:
    """The returns travel with the collector's other per-step fields to the learner's role,
    where the logger sits (the collector runs in a thread or a forked process)."""
    chosen = ThreadBackend() if backend == "thread" else ProcessBackend(("collector",))
    task = Task(TrainContext(), backend=chosen)
    task.use(toy_collect()).use(numbered_returns)
    task.use(fixed_updates(1)).use(toy_learn(TinyPolicy())).use(tb_logger(tmp_path))
    task.run(max_steps=3, mode="async")
    assert task.role_steps == {"collector": 3, "learner": 3}
    logged = read_scalars(tmp_path / TB_DIR)["collect/episode_return_mean"]
    assert sorted(value for _, value in logged) == [1.0, 2.0, 3.0]  # each step's, once


def test_chains_that_never_write_episode_returns_still_run(tmp_path: Path) -> None:
    assert "collect_episode_returns" in tb_logger(tmp_path).reads  # so async mode carries it
    for mode in ("sync", "async"):
        task = Task(TrainContext()).use(toy_collect())
        task.use(fixed_updates(1)).use(toy_learn(TinyPolicy())).use(tb_logger(tmp_path / mode))
        task.run(max_steps=2, mode=mode)
        logged = read_scalars(tmp_path / mode / TB_DIR)
        assert logged["train/total_loss"]  # (async: the learner steps on env_step changes)
        assert "collect/episode_return_mean" not in logged


def test_file_grows_and_is_closed_on_finish(tmp_path: Path) -> None:
    task = Task(TrainContext()).use(fixed_updates(1)).use(toy_learn(TinyPolicy()))
    mw = tb_logger(tmp_path, flush_secs=1)
    task.use(mw)
    task.run(max_steps=2)
    (event_file,) = (tmp_path / TB_DIR).glob("events.out.tfevents.*")
    size = event_file.stat().st_size
    assert size > 0
    assert len(read_scalars(tmp_path / TB_DIR)["train/total_loss"]) == 2
    tb = mw.fn.__self__  # the logger state: its writer is closed and dropped on FINISH
    assert tb.writer is None


def test_curves_up_to_a_crash_are_on_disk(tmp_path: Path) -> None:
    @middleware(reads=("train_iter",))
    def diverge(ctx: TrainContext) -> None:
        if ctx.train_iter >= 3:
            raise FloatingPointError("loss is nan")

    task = Task(TrainContext()).use(fixed_updates(1)).use(toy_learn(TinyPolicy()))
    task.use(tb_logger(tmp_path, flush_secs=600)).use(diverge)
    with pytest.raises(FloatingPointError):
        task.run(max_steps=10)
    assert [step for step, _ in read_scalars(tmp_path / TB_DIR)["train/total_loss"]] == [1, 2]


def test_without_statistics_only_timings_are_logged(tmp_path: Path) -> None:
    @middleware
    def idle(ctx: TrainContext) -> None:
        """Does nothing."""

    task = Task(TrainContext()).use(idle).use(tb_logger(tmp_path))
    assert not (tmp_path / TB_DIR).exists()  # the event file is created at the first value
    task.run(max_steps=1)
    assert set(read_scalars(tmp_path / TB_DIR)) == {"time/idle", "time/tb_logger", "time/step"}


@dataclasses.dataclass
class Stats:
    loss: float
    skipped: bool
    info: dict


def test_scalars_finds_every_number() -> None:
    assert scalars(None, "train") == {}
    assert scalars(2, "x") == {"x": 2.0}
    assert scalars({"a": np.float32(1.5), "b": torch.tensor(2.0), "c": "text"}, "t") == {
        "t/a": 1.5,
        "t/b": 2.0,
    }
    assert scalars(Stats(0.5, True, {"lr": 0.1}), "t") == {"t/loss": 0.5, "t/info/lr": 0.1}
    assert scalars([{"loss": 1.0}, {"loss": 3.0, "gn": 2.0}], "t") == {"t/loss": 2.0, "t/gn": 2.0}
    assert scalars({"returns": [1.0, 2.0], "flag": True, "arr": np.zeros(3)}, "e") == {}


def test_flush_secs_is_checked() -> None:
    with pytest.raises(ValueError, match="flush_secs must be an int >= 1, got 0"):
        tb_logger("x", flush_secs=0)
