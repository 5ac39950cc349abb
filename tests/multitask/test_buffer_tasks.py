"""Task ids through the replay buffer: segments -> buffer -> batch, balanced sampling, files."""

import numpy as np
import pytest

from pipezero.data import GameSegmentWriter, ReplayBuffer, load_segments, save_segments
from pipezero.data.task_balance import balanced_quota

L, K, N, A = 4, 1, 2, 2


def task_segments(task_id, num_episodes, length=7):
    """Segments of ``task_id`` whose observations are ``task_id * 1000 + step``."""
    writer = GameSegmentWriter((1,), A, L, K, N, task_id=task_id)
    for _ in range(num_episodes):
        for j in range(length):
            writer.append(
                np.array([task_id * 1000 + j], dtype=np.float32),
                np.ones(A, dtype=bool),
                -1,
                j % A,
                1.0,
                np.array([1.0, 1.0]),
                0.0,
            )
        writer.end_episode(np.array([task_id * 1000 + length], dtype=np.float32), True)
    return writer.pop_finished()


def buffer(capacity=100_000, **kwargs):
    return ReplayBuffer(capacity, K, N, seed=0, **kwargs)


def test_task_ids_survive_the_buffer_round_trip():
    buf = buffer()
    for task in (0, 1, 2):
        segs = task_segments(task, 3)
        assert {s.task_id for s in segs} == {task}
        buf.extend(segs)
    batch = buf.sample(600)
    assert batch.task_ids.dtype == np.int64
    np.testing.assert_array_equal(batch.task_ids, batch.obs[:, 0] // 1000)
    assert set(batch.task_ids.tolist()) == {0, 1, 2}


def test_batches_draw_equally_from_the_tasks_present():
    buf = buffer()
    buf.extend(task_segments(0, 40))  # 10x the transitions of task 1 ...
    buf.extend(task_segments(1, 4))
    buf.extend(task_segments(2, 4))
    first = buf.segments()[0]
    ids = np.arange(first.length)  # ... and task 0 starts with 100x the priority
    buf.update_priorities(ids, np.full(ids.size, 100.0))
    counts = np.bincount(buf.sample(3000).task_ids, minlength=3)
    np.testing.assert_array_equal(counts, [1000, 1000, 1000])
    counts = np.bincount(buf.sample(3001).task_ids, minlength=3)
    assert counts.sum() == 3001 and counts.max() - counts.min() == 1


def test_without_balancing_the_larger_task_dominates():
    buf = buffer(balance_tasks=False)
    buf.extend(task_segments(0, 40))
    buf.extend(task_segments(1, 4))
    counts = np.bincount(buf.sample(2000).task_ids, minlength=2)
    assert counts[0] > 5 * counts[1]


def test_importance_weights_correct_priorities_within_a_task_only():
    buf = buffer(priority_prob_alpha=0.0, priority_prob_beta=1.0)
    buf.extend(task_segments(0, 40))
    buf.extend(task_segments(1, 4))
    np.testing.assert_array_equal(buf.sample(64).weights, np.ones(64, dtype=np.float32))


def test_a_single_task_samples_as_before():
    """One task: the same draws as a buffer that never balances (seeded runs unchanged)."""
    plain, balanced = buffer(balance_tasks=False), buffer()
    for buf in (plain, balanced):
        buf.extend(task_segments(3, 5))
    a, b = plain.sample(32), balanced.sample(32)
    assert a.arrays().keys() == b.arrays().keys()
    for key, array in a.arrays().items():
        np.testing.assert_array_equal(array, getattr(b, key), err_msg=key)
    assert (b.task_ids == 3).all()


def test_evicted_task_leaves_the_balance():
    buf = buffer(capacity=40)
    buf.extend(task_segments(0, 2))
    buf.extend(task_segments(1, 6))  # evicts every task-0 segment
    assert {s.task_id for s in buf.segments()} == {1}
    assert (buf.sample(50).task_ids == 1).all()
    buf.extend(task_segments(2, 2))
    counts = np.bincount(buf.sample(50).task_ids, minlength=3)
    np.testing.assert_array_equal(counts, [0, 25, 25])


def test_saved_buffer_keeps_task_ids_and_balance(tmp_path):
    buf = buffer()
    buf.extend(task_segments(0, 20))
    buf.extend(task_segments(1, 2))
    buf.save(tmp_path / "buffer.npz")
    loaded = ReplayBuffer.load(tmp_path / "buffer.npz")
    assert [s.task_id for s in loaded.segments()] == [s.task_id for s in buf.segments()]
    counts = np.bincount(loaded.sample(100).task_ids, minlength=2)
    np.testing.assert_array_equal(counts, [50, 50])


def test_saved_trajectories_keep_task_ids(tmp_path):
    segs = task_segments(0, 1) + task_segments(4, 1)
    loaded = load_segments(save_segments(segs, tmp_path / "segs.npz"))
    assert [s.task_id for s in loaded] == [s.task_id for s in segs]


def test_balanced_quota_spreads_the_remainder():
    rng = np.random.default_rng(0)
    assert balanced_quota(9, 3, rng).tolist() == [3, 3, 3]
    extra = sum(balanced_quota(7, 3, rng) - 2 for _ in range(300))
    assert extra.sum() == 300 and extra.min() > 70  # each task gets the extra row ~1/3


def test_negative_task_id_is_rejected():
    with pytest.raises(ValueError, match="task_id"):
        GameSegmentWriter((1,), A, L, K, N, task_id=-1)
