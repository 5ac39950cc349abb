"""pipezero.checkpoint: atomic files, latest checkpoint, RNG states, resume errors."""

from __future__ import annotations

import dataclasses
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import pipezero.checkpoint.files as files
from pipezero.checkpoint import (
    FINAL_NAME,
    buffer_files,
    build_state,
    capture_rng_state,
    checkpoint_dir,
    eval_mean_return,
    latest_checkpoint,
    load_checkpoint,
    periodic_name,
    restore_rng_state,
    resume,
    save_checkpoint,
)
from pipezero.data import GameSegmentWriter, ReplayBuffer
from pipezero.framework import TrainContext, persistent


class Momentum:
    """A real policy-like object: a linear model trained by SGD with momentum."""

    def __init__(self, seed: int) -> None:
        torch.manual_seed(seed)
        self.model = torch.nn.Linear(2, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)

    def step(self) -> None:
        x = torch.randn(4, 2)
        loss = self.model(x).pow(2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


@dataclasses.dataclass
class Schedule:
    """A Python object some policies keep in their state (not allowed by weights_only)."""

    step: int


def weights(policy: Momentum) -> list[float]:
    return [float(v) for p in policy.model.parameters() for v in p.detach().flatten()]


def make_state(train_iter: int, env_step: int = 0, kind: str = "periodic") -> dict[str, Any]:
    ctx = TrainContext(train_iter=train_iter, env_step=env_step)
    return build_state(ctx, Momentum(seed=train_iter), kind=kind)


def small_buffer(num_steps: int) -> ReplayBuffer:
    writer = GameSegmentWriter((1,), 2, game_segment_length=4, num_unroll_steps=1, td_steps=2)
    for j in range(num_steps):
        writer.append(np.array([j], np.float32), np.ones(2, bool), -1, 0, 1.0, np.ones(2), 0.0)
    writer.end_episode(np.array([num_steps], np.float32), terminated=True)
    buffer = ReplayBuffer(100, num_unroll_steps=1, td_steps=2, seed=0)
    buffer.extend(writer.pop_finished())
    return buffer


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# -- atomic writing ---------------------------------------------------------------------------


def test_round_trip(tmp_path: Path) -> None:
    policy = Momentum(seed=1)
    policy.step()
    ctx = TrainContext(env_step=40, train_iter=7, best_eval_return=2.5, task_step=3)
    path = save_checkpoint(tmp_path / "a" / "x.pt", build_state(ctx, policy, kind="periodic"))
    state = load_checkpoint(path)
    assert state["counters"] == {
        "task_step": 3,
        "env_step": 40,
        "env_episode": 0,
        "train_iter": 7,
        "best_eval_return": 2.5,
        "last_eval_iter": -1,
    }
    assert state["meta"]["kind"] == "periodic" and state["buffer_file"] is None
    other = Momentum(seed=2)
    other.load_state_dict(state["policy"])
    assert weights(other) == weights(policy)


def _fail_in_torch_save(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def partial_save(obj: object, f: Any) -> None:
        f.write(b"PK\x03\x04 half a checkpoint")
        raise exc

    monkeypatch.setattr(files.torch, "save", partial_save)


def _fail_in_fsync(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def broken_fsync(fd: int) -> None:
        raise exc

    monkeypatch.setattr(files.os, "fsync", broken_fsync)


@pytest.mark.parametrize("where", [_fail_in_torch_save, _fail_in_fsync])
@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: Any, exc: BaseException
) -> None:
    path = save_checkpoint(tmp_path / FINAL_NAME, make_state(train_iter=10))
    before = path.read_bytes()
    where(monkeypatch, exc)
    with pytest.raises(type(exc)):
        save_checkpoint(path, make_state(train_iter=20))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["counters"]["train_iter"] == 10
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final.manifest.json", FINAL_NAME]


def test_buffer_beside_checkpoint_replaced_with_it(tmp_path: Path) -> None:
    path = tmp_path / FINAL_NAME
    save_checkpoint(path, make_state(1), small_buffer(3))
    (first,) = buffer_files(path)
    assert load_checkpoint(path)["buffer_file"] == first.name
    save_checkpoint(path, make_state(2), small_buffer(5))
    (second,) = buffer_files(path)
    assert second != first and load_checkpoint(path)["buffer_file"] == second.name
    assert ReplayBuffer.load(second).num_transitions == 5
    save_checkpoint(path, make_state(3))  # without a buffer: the old one goes
    assert buffer_files(path) == [] and load_checkpoint(path)["buffer_file"] is None


def test_failed_write_with_buffer_keeps_the_old_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / FINAL_NAME
    save_checkpoint(path, make_state(1), small_buffer(3))
    (old,) = buffer_files(path)
    _fail_in_torch_save(monkeypatch, OSError("disk full"))
    with pytest.raises(OSError):
        save_checkpoint(path, make_state(2), small_buffer(5))
    monkeypatch.undo()
    assert buffer_files(path) == [old]
    assert load_checkpoint(path)["buffer_file"] == old.name
    assert leftovers(tmp_path) == []


# -- reading ----------------------------------------------------------------------------------


def test_load_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.pt does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip file")
    with pytest.raises(
        ValueError, match=r"cannot read checkpoint .*junk.pt: not a torch.save archive"
    ):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"not a pipezero checkpoint: missing \['format_version'"):
        load_checkpoint(tmp_path / "other.pt")
    save_checkpoint(tmp_path / "future.pt", {**make_state(1), "format_version": 99})
    with pytest.raises(ValueError, match="format version 99, this pipezero reads version 1"):
        load_checkpoint(tmp_path / "future.pt")


def test_untrusted_objects_need_weights_only_false(tmp_path: Path) -> None:
    state = make_state(1)
    state["policy"]["schedule"] = Schedule(3)
    path = save_checkpoint(tmp_path / "x.pt", state)
    with pytest.raises(
        ValueError,
        match=r"holds a test_checkpoint.Schedule object.*load it with weights_only=False",
    ):
        load_checkpoint(path)
    assert load_checkpoint(path, weights_only=False)["policy"]["schedule"] == Schedule(3)


def test_latest_checkpoint_picks_the_most_advanced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ckpt = checkpoint_dir(tmp_path)
    assert latest_checkpoint(tmp_path) is None
    save_checkpoint(ckpt / "best.pt", make_state(500, kind="best"))  # never resumed from
    save_checkpoint(ckpt / periodic_name(100), make_state(100, 400))
    save_checkpoint(ckpt / periodic_name(200), make_state(200, 800))
    assert latest_checkpoint(tmp_path) == ckpt / periodic_name(200)
    save_checkpoint(ckpt / FINAL_NAME, make_state(200, 800, kind="final"))
    assert latest_checkpoint(tmp_path) == ckpt / FINAL_NAME  # same counters: final wins
    save_checkpoint(ckpt / periodic_name(300), make_state(300, 1200))  # resumed, then crashed
    assert latest_checkpoint(tmp_path) == ckpt / periodic_name(300)
    (ckpt / periodic_name(400)).write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        assert latest_checkpoint(tmp_path) == ckpt / periodic_name(300)
    assert "skipping unreadable checkpoint" in caplog.text


# -- RNG and resume ---------------------------------------------------------------------------


def draw() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_rng_states_round_trip(tmp_path: Path) -> None:
    np.random.normal()  # leave a cached Gaussian in NumPy's state
    state = capture_rng_state()
    expected = [draw() for _ in range(3)]
    path = save_checkpoint(tmp_path / "x.pt", {**make_state(1), "rng": state})
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    restore_rng_state(load_checkpoint(path)["rng"])
    assert [draw() for _ in range(3)] == expected


def test_resume_restores_counters_policy_rng_and_buffer(tmp_path: Path) -> None:
    policy = Momentum(seed=1)
    for _ in range(3):
        policy.step()
    ctx = TrainContext(env_step=12, env_episode=2, train_iter=3, best_eval_return=1.5)
    ctx.finish_reason = "interrupted"
    buffer = small_buffer(6)
    path = checkpoint_dir(tmp_path) / FINAL_NAME
    save_checkpoint(path, build_state(ctx, policy, kind="final"), buffer)
    policy.step()
    expected = (weights(policy), draw(), buffer.sample(4).indices.tolist())

    ctx2, policy2, buffer2 = TrainContext(), Momentum(seed=9), small_buffer(2)
    assert resume(tmp_path, ctx2, policy2, buffer2) == path
    assert (ctx2.env_step, ctx2.env_episode, ctx2.train_iter) == (12, 2, 3)
    assert ctx2.best_eval_return == 1.5 and ctx2.finish_reason is None
    assert buffer2.num_transitions == 6
    policy2.step()  # momentum buffers restored: the same update as without interruption
    assert (weights(policy2), draw(), buffer2.sample(4).indices.tolist()) == expected


def test_resume_from_a_file_and_without_buffer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = save_checkpoint(tmp_path / "some.pt", make_state(7))
    ctx, buffer = TrainContext(), small_buffer(2)
    with caplog.at_level(logging.WARNING):
        assert resume(path, ctx, Momentum(seed=0), buffer) == path
    assert ctx.train_iter == 7 and buffer.num_transitions == 2
    assert "holds no replay buffer" in caplog.text


def test_resume_counters_the_context_lacks_are_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    @dataclasses.dataclass(kw_only=True)
    class WithTemperature(TrainContext):
        temperature: float = persistent(1.0)

    ctx = WithTemperature(train_iter=4, temperature=0.25)
    save_checkpoint(checkpoint_dir(tmp_path) / FINAL_NAME, build_state(ctx, Momentum(0), kind="f"))
    resumed = WithTemperature()
    resume(tmp_path, resumed, Momentum(seed=0))
    assert (resumed.train_iter, resumed.temperature) == (4, 0.25)
    plain = TrainContext()
    with caplog.at_level(logging.WARNING):
        resume(tmp_path, plain, Momentum(seed=0))
    assert "holds counter 'temperature', which TrainContext does not declare" in caplog.text


def test_resume_errors_name_the_directory_and_expected_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"run directory .*missing does not exist"):
        resume(tmp_path / "missing", TrainContext(), Momentum(0))
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError) as info:
        resume(tmp_path, TrainContext(), Momentum(0))
    message = str(info.value)
    assert f"no checkpoint in run directory {tmp_path}" in message
    assert "iter_*.pt" in message and FINAL_NAME in message and "notes.txt" in message


def test_resume_refuses_a_buffer_built_differently(tmp_path: Path) -> None:
    save_checkpoint(checkpoint_dir(tmp_path) / FINAL_NAME, make_state(1), small_buffer(3))
    other = ReplayBuffer(50, num_unroll_steps=1, td_steps=2)
    with pytest.raises(ValueError, match="saved with capacity=100, the buffer given to resume"):
        resume(tmp_path, TrainContext(), Momentum(0), other)


def test_eval_mean_return() -> None:
    assert eval_mean_return(3) == 3.0
    assert eval_mean_return({"return_mean": 2.5, "return_max": 4}) == 2.5
    assert eval_mean_return(dataclasses.make_dataclass("R", ["return_mean"])(1.5)) == 1.5
    with pytest.raises(TypeError, match=r"\['mean'\]; the evaluator must report"):
        eval_mean_return({"mean": 1.0})
