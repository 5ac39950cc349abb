import numpy as np
import pytest
from data_toy import A, K, L, N, play_episode

from pipezero.data import GameSegment, GameSegmentWriter


def test_padding_layout_when_episode_goes_on(writer):
    play_episode(writer, 7, terminated=None)  # L=4, P=3: the first segment pads at step 7
    (first,) = writer.pop_finished()
    assert first.length == 4 and first.num_padding == 3 and first.episode_end == -1
    assert first.num_positions == 7 and len(first) == 4
    assert first.obs[:, 0].tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert first.rewards.tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert first.actions.tolist() == [0, 1, 0, 1, 0, 1, 0]
    assert np.allclose(first.child_visits, [0.25, 0.75])
    assert writer.num_unfinished_transitions == 3
    assert not first.obs.flags.writeable


def test_predicted_values_are_stored_and_padded(writer):
    play_episode(writer, 6, terminated=True, with_pred=True)
    first, second = writer.pop_finished()
    assert first.pred_values[:6].tolist() == [0, 1, 2, 3, 4, 5]  # 4 real + 2 padding
    assert np.isnan(first.pred_values[6])  # the final observation has no prediction
    assert second.pred_values[:2].tolist() == [4, 5]


def test_predicted_values_default_to_nan(writer):
    play_episode(writer, 3, terminated=True)
    (seg,) = writer.pop_finished()
    assert np.isnan(seg.pred_values).all() and seg.pred_values.shape == (4,)


def test_episode_ending_inside_the_padding(writer):
    play_episode(writer, 6, terminated=True)  # 4 real + next segment of 2 then the end
    first, second = writer.pop_finished()
    assert (first.length, first.num_padding, first.episode_end) == (4, 2, 6)
    assert first.terminated and first.num_positions == 7
    assert first.obs[:, 0].tolist() == [0, 1, 2, 3, 4, 5, 6]  # 6 = final observation
    assert not first.action_masks[6].any()
    assert (second.length, second.num_padding, second.episode_end) == (2, 0, 2)
    assert second.obs[:, 0].tolist() == [4, 5, 6]
    assert writer.num_unfinished_transitions == 0


def test_episode_ending_exactly_after_the_padding_is_not_recorded(writer):
    play_episode(writer, 7, terminated=False)  # next segment holds exactly P = 3
    first, second = writer.pop_finished()
    assert (first.num_padding, first.episode_end) == (3, -1)
    assert (second.length, second.episode_end, second.terminated) == (3, 3, False)


def test_short_episode_and_segment_full_at_the_end(writer):
    play_episode(writer, 2, terminated=True)
    play_episode(writer, 4, terminated=False, start=100)
    short, full = writer.pop_finished()
    assert (short.length, short.episode_end, short.num_positions) == (2, 2, 3)
    assert (full.length, full.num_padding, full.episode_end) == (4, 0, 4)
    assert full.obs[4, 0] == 104 and not full.terminated


def test_long_episode_rolls_over_many_segments(writer):
    play_episode(writer, 4 * 5 + 1, terminated=True)
    segments = writer.pop_finished()
    assert [s.length for s in segments] == [4, 4, 4, 4, 4, 1]
    assert sum(len(s) for s in segments) == 21
    for i, seg in enumerate(segments[:-2]):
        assert seg.num_padding == 3 and seg.obs[:, 0].tolist() == list(range(4 * i, 4 * i + 7))
    # the fifth segment is padded by a next segment of 1 transition, then the end
    assert (segments[4].num_padding, segments[4].episode_end) == (1, 5)


def test_finish_and_append_errors():
    seg = GameSegment((1,), A, L, K, N)
    with pytest.raises(RuntimeError, match="empty"):
        seg.finish()
    for _ in range(L):
        seg.append(np.zeros(1), np.ones(A, bool), -1, 0, 0.0, np.ones(A), 0.0)
    with pytest.raises(RuntimeError, match="full"):
        seg.append(np.zeros(1), np.ones(A, bool), -1, 0, 0.0, np.ones(A), 0.0)
    with pytest.raises(RuntimeError, match="padding"):
        seg.finish()
    nxt = GameSegment((1,), A, L, K, N)
    nxt.append(np.zeros(1), np.ones(A, bool), -1, 0, 0.0, np.ones(A), 0.0)
    with pytest.raises(RuntimeError, match="holds 1 transitions"):
        seg.pad_from(nxt)
    with pytest.raises(ValueError, match="positive sum"):
        nxt.append(np.zeros(1), np.ones(A, bool), -1, 0, 0.0, np.zeros(A), 0.0)
    with pytest.raises(ValueError, match="game_segment_length"):
        GameSegment((1,), A, game_segment_length=2, num_unroll_steps=1, td_steps=2)
    with pytest.raises(RuntimeError, match="before any append"):
        GameSegmentWriter((1,), A, L, K, N).end_episode(np.zeros(1), True)


def test_from_arrays_round_trip(writer):
    play_episode(writer, 6, with_pred=True)
    seg = writer.pop_finished()[0]
    d = seg.to_dict()
    arrays = {k: v for k, v in d.items() if isinstance(v, np.ndarray)}
    assert "pred_values" in arrays
    copy = GameSegment.from_arrays(
        arrays, L, K, N, seg.length, seg.num_padding, seg.episode_end, seg.terminated
    )
    for name, arr in arrays.items():
        assert np.array_equal(getattr(copy, name), arr, equal_nan=name == "pred_values")
    assert copy.finished and copy.num_positions == seg.num_positions
