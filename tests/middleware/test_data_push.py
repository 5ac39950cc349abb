"""data_push: segments of the step go into the replay buffer."""

from __future__ import annotations

import pytest
from mw_toy import make_buffer, play_episode, toy_collect
from pipezero.middleware import data_push

from pipezero.framework import ChainError, Task, TrainContext


def test_pushes_every_new_segment() -> None:
    buffer = make_buffer()
    segments = play_episode(7) + play_episode(3)
    ctx = TrainContext(new_segments=segments)
    data_push(buffer)(ctx)
    assert buffer.num_segments == len(segments) == 3
    assert buffer.num_transitions == 10
    assert buffer.segments() == segments
    assert ctx.new_segments == segments  # left for calc_update_count


def test_no_segments_is_a_no_op() -> None:
    buffer = make_buffer()
    data_push(buffer)(TrainContext())
    assert buffer.num_transitions == 0


def test_eviction_is_left_to_the_buffer() -> None:
    buffer = make_buffer(capacity=6)
    mw = data_push(buffer)
    mw(TrainContext(new_segments=play_episode(4)))
    mw(TrainContext(new_segments=play_episode(5)))
    assert buffer.num_transitions <= 6
    assert buffer.segments()[-1].length == 1  # the newest segment is kept


def test_in_a_task_after_a_collector() -> None:
    buffer = make_buffer()
    ctx = Task(TrainContext()).use(toy_collect()).use(data_push(buffer)).run(max_steps=3)
    assert buffer.num_transitions == ctx.env_step > 0


def test_declaration() -> None:
    mw = data_push(make_buffer())
    assert (mw.name, mw.role, mw.reads, mw.writes) == (
        "data_push",
        "learner",
        ("new_segments",),
        (),
    )
    with pytest.raises(ChainError, match=r"data_push reads ctx\.new_segments"):
        Task(TrainContext()).use(mw).validate()


def test_rejects_a_non_buffer() -> None:
    with pytest.raises(TypeError, match="needs a ReplayBuffer, got list"):
        data_push([])  # type: ignore[arg-type]
