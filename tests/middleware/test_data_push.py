"""data_push: segments of the step go into the replay buffer."""

from __future__ import annotations

import numpy as np
import pytest
from mw_toy import K, L, N, make_buffer, play_episode, toy_collect
from pipezero.middleware import data_push

from pipezero.data import GameSegmentWriter
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


def _segment_with_predictions(pred: list[float], root: list[float]):
    writer = GameSegmentWriter((1,), 2, game_segment_length=L, num_unroll_steps=K, td_steps=N)
    for j, (p, r) in enumerate(zip(pred, root, strict=True)):
        writer.append(np.array([j]), np.array([True, True]), -1, 0, 0.0, np.ones(2), r, p)
    writer.end_episode(np.array([len(pred)]), terminated=True)
    (segment,) = writer.pop_finished()
    return segment


def test_priorities_are_the_value_error_plus_eps() -> None:
    buffer = make_buffer()
    segment = _segment_with_predictions(pred=[0.5, -1.0, 2.0], root=[0.25, 1.0, 2.0])
    data_push(buffer, priority_eps=0.01)(TrainContext(new_segments=[segment]))
    got = buffer.get_priorities(np.arange(3))
    assert np.allclose(got, [0.26, 2.01, 0.01])


def test_segments_without_predictions_get_the_max_priority() -> None:
    buffer = make_buffer()
    mw = data_push(buffer)
    mw(TrainContext(new_segments=[_segment_with_predictions([5.0], [0.0])]))
    (plain,) = play_episode(2)  # written without pred_value: NaN predictions
    mw(TrainContext(new_segments=[plain]))
    assert np.allclose(buffer.get_priorities(np.arange(1, 3)), 5.0 + 1e-6)


def test_max_mode_gives_new_data_the_max_priority_even_with_predictions() -> None:
    buffer = make_buffer()
    mw = data_push(buffer, new_data_priority="max")
    data_push(buffer)(TrainContext(new_segments=[_segment_with_predictions([5.0], [0.0])]))
    mw(TrainContext(new_segments=[_segment_with_predictions([0.0, 0.0], [0.0, 0.0])]))
    assert np.allclose(buffer.get_priorities(np.arange(1, 3)), 5.0 + 1e-6)


def test_unknown_new_data_priority_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"new_data_priority must be one of .* got 'newest'"):
        data_push(make_buffer(), new_data_priority="newest")


def test_priority_eps_is_checked() -> None:
    with pytest.raises(ValueError, match="priority_eps must be > 0, got 0"):
        data_push(make_buffer(), priority_eps=0)


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
