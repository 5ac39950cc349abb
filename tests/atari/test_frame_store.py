"""The frame store keeps each frame once and rebuilds exactly gymnasium's stacks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from atari_toy import RandomFrames, record_segments, stacked

from pipezero.data import GameSegmentWriter, ReplayBuffer
from pipezero.data.frame_store import FrameReplayBuffer, StackedFrames, to_frame_store

K, N = 3, 4  # padding P = 7


def filled(num_steps=600, length=20, end_prob=0.02, size=16, capacity=100_000):
    env = stacked(RandomFrames(size=size, end_prob=end_prob))
    segments, expected = record_segments(env, num_steps, length, K, N)
    buffer = FrameReplayBuffer(capacity, num_unroll_steps=K, td_steps=N, seed=0)
    for seg in segments:
        buffer.push(seg)
    return buffer, segments, expected


def test_every_stored_stack_equals_gymnasiums_stack():
    _buffer, segments, expected = filled()
    assert any(s.episode_ended for s in segments) and any(s.num_padding for s in segments)
    for seg, obs in zip(segments, expected, strict=True):
        assert isinstance(seg.obs, StackedFrames)
        assert seg.obs.shape == obs.shape and seg.obs.dtype == np.uint8
        np.testing.assert_array_equal(np.asarray(seg.obs), obs)  # padding and final obs too
        np.testing.assert_array_equal(seg.obs[len(obs) - 1], obs[-1])
        np.testing.assert_array_equal(seg.obs[-1], obs[-1])
        np.testing.assert_array_equal(seg.obs[1:5], obs[1:5])
        idx = np.array([[0, 2], [len(obs) - 1, 1]])
        np.testing.assert_array_equal(seg.obs[idx], obs[idx])


def test_sampled_batches_hold_gymnasiums_stacks():
    buffer, segments, expected = filled()
    by_id = {id(seg): obs for seg, obs in zip(segments, expected, strict=True)}
    batch = buffer.sample(64, with_unroll_obs=True)
    for row in range(64):
        seg = buffer._segments[int(batch.segment_ids[row])][0]
        t = int(batch.positions[row])
        obs = by_id[id(seg)]
        np.testing.assert_array_equal(batch.obs[row], obs[t])
        for k in range(K):
            p = min(t + 1 + k, len(obs) - 1)
            np.testing.assert_array_equal(batch.unroll_obs[row, k], obs[p])
    assert batch.obs.dtype == np.uint8


def test_padding_frames_are_shared_with_the_next_segment():
    buffer, segments, _ = filled(end_prob=0.0)  # one long episode
    assert all(s.num_padding == K + N for s in segments)
    for prev, nxt in itertools.pairwise(segments):
        assert np.shares_memory(prev.obs.tail, nxt.obs.frames)
        assert prev.obs.tail.base is not None  # a view: not counted as its own memory
    assert buffer._pending == [segments[-1]]  # its successor was not pushed yet


def test_memory_per_transition_is_about_one_frame():
    # 96x96 frames as after AtariPreprocessing, segments of 100, one padded tail pending
    buffer, _, _ = filled(num_steps=3000, length=100, end_prob=0.002, size=96)
    report = buffer.memory_report()
    assert report["frame_bytes"] == 96 * 96
    assert report["ratio_to_frame"] <= 1.2, report
    assert report["obs_bytes_per_transition"] < 1.1 * 96 * 96  # plain storage: over 4 frames


def test_observations_that_are_not_frame_stacks_are_refused():
    writer = GameSegmentWriter((2, 3), 2, 4, 1, 1, obs_dtype=np.uint8)
    rng = np.random.default_rng(0)
    for _ in range(4):
        writer.append(rng.integers(0, 9, (2, 3)), np.ones(2, bool), -1, 0, 0.0, np.ones(2), 0.0)
    writer.end_episode(np.zeros((2, 3)), True)
    (seg,) = writer.pop_finished()
    with pytest.raises(ValueError, match="consecutive frames"):
        to_frame_store(seg)


def test_saved_buffer_loads_and_compacts_again(tmp_path):
    buffer, segments, expected = filled(num_steps=200)
    path = tmp_path / "buffer.npz"
    buffer.save(path)
    loaded = ReplayBuffer.load(path)
    for seg, obs in zip(loaded.segments(), expected, strict=True):
        np.testing.assert_array_equal(seg.obs, obs)
    fresh = FrameReplayBuffer(100_000, num_unroll_steps=K, td_steps=N)
    vars(fresh).update({k: v for k, v in vars(loaded).items()})
    fresh._pending = []
    assert fresh.compact() == len(segments)
    for seg, obs in zip(fresh.segments(), expected, strict=True):
        np.testing.assert_array_equal(np.asarray(seg.obs), obs)


def test_eviction_forgets_pending_segments():
    buffer, _segments, _ = filled(num_steps=400, end_prob=0.0, capacity=60)
    live = {id(s) for s in buffer.segments()}
    assert all(id(s) in live for s in buffer._pending)
    assert buffer.num_transitions <= 60
