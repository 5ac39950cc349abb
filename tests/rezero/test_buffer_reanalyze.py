"""buffer_reanalyze: what it searches, in which order, and where the results land."""

from __future__ import annotations

import numpy as np
import pytest
from pipezero.middleware import ReanalyzeContext, buffer_reanalyze
from rezero_toy import A, episode_segments, make_buffer

from pipezero.data.segment_targets import write_search_targets
from pipezero.framework import Task, middleware
from pipezero.policy.rezero_reanalyze import ReanalyzeResult, SegmentReanalyzer


class MarkingReanalyzer:
    """Returns, for position ``j`` of a segment whose first observation is ``[m, j0]``,
    visits one-hot on ``j % A`` and root value ``1000 m + j0 + j`` (the episode step);
    records the windows it was given."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def reanalyze_segments(self, segments):
        self.calls.append([int(s.obs[0][1]) for s in segments])
        visits, values = [], []
        for seg in segments:
            t = seg.length + seg.num_padding
            visits.append(np.eye(A, dtype=np.float32)[np.arange(t) % A])
            values.append(1000 * seg.obs[0][0] + seg.obs[:t, 1])
        return ReanalyzeResult(visits, values, num_states=sum(len(v) for v in values))


CFG = {
    "buffer_reanalyze_freq": 1.0,
    "reanalyze_partition": 1.0,
    "reanalyze_batch_size": 2,
    "collect_with_pure_policy": False,
}


def filled_buffer(num_steps=20, episodes=1):
    buffer = make_buffer()
    for e in range(episodes):
        buffer.extend(episode_segments(num_steps, seed=e, marker=float(e)))
    return buffer


def test_marking_reanalyzer_follows_the_protocol():
    assert isinstance(MarkingReanalyzer(), SegmentReanalyzer)


def test_every_transition_position_gets_its_own_result_and_the_final_row_is_kept():
    buffer = filled_buffer(20)
    mw = buffer_reanalyze(CFG | {"reanalyze_batch_size": 100}, MarkingReanalyzer(), buffer)
    ctx = ReanalyzeContext()
    mw(ctx)
    for seg in buffer.segments():
        t = seg.length + seg.num_padding
        start = int(seg.obs[0][1])
        np.testing.assert_array_equal(seg.root_values[:t], start + np.arange(t))
        np.testing.assert_array_equal(seg.child_visits[:t].argmax(1), np.arange(t) % A)
        assert not seg.child_visits.flags.writeable
        if seg.episode_ended:  # the final observation had no search: untouched
            assert seg.root_values[seg.episode_end] == 0.0
            assert seg.child_visits[seg.episode_end].sum() == 0.0
    assert ctx.reanalyze_output["segments"] == buffer.num_segments
    assert ctx.reanalyzed_states == sum(s.length + s.num_padding for s in buffer.segments())


def test_sampled_targets_come_from_the_reanalysis_padding_included():
    buffer = filled_buffer(20)
    buffer_reanalyze(CFG | {"reanalyze_batch_size": 100}, MarkingReanalyzer(), buffer)(
        ReanalyzeContext()
    )
    batch = buffer.sample(64)
    for row in range(64):
        seg = buffer._segments[int(batch.segment_ids[row])][0]
        t = int(batch.positions[row])
        step = int(seg.obs[t][1])  # episode step of the sampled position
        for k in range(batch.policy_mask.shape[1]):
            if batch.policy_mask[row, k]:
                assert batch.root_values[row, k] == step + k
                assert batch.target_policy[row, k].argmax() == (t + k) % A


def test_passes_walk_the_buffer_oldest_first_and_start_over():
    buffer = filled_buffer(20)  # 4 segments: episode steps 0, 6, 12, 18
    policy = MarkingReanalyzer()
    mw = buffer_reanalyze(CFG, policy, buffer)
    for _ in range(3):
        mw(ReanalyzeContext())
    assert policy.calls == [[0, 6], [12, 18], [0, 6]]


def test_partition_keeps_to_the_oldest_segments():
    buffer = filled_buffer(20)
    policy = MarkingReanalyzer()
    mw = buffer_reanalyze(
        CFG | {"reanalyze_partition": 0.5, "reanalyze_batch_size": 1}, policy, buffer
    )
    for _ in range(3):
        mw(ReanalyzeContext())
    assert policy.calls == [[0], [6], [0]]


@pytest.mark.parametrize(("freq", "passes"), [(0.5, [0, 1, 0, 1]), (2.0, [2, 2, 2, 2])])
def test_frequency_counts_passes_per_collect(freq, passes):
    buffer = filled_buffer(40)
    policy = MarkingReanalyzer()
    mw = buffer_reanalyze(CFG | {"buffer_reanalyze_freq": freq}, policy, buffer)
    seen = []
    for _ in range(4):
        before = len(policy.calls)
        mw(ReanalyzeContext())
        seen.append(len(policy.calls) - before)
    assert seen == passes


def test_pure_policy_collection_reanalyses_new_segments_at_once():
    buffer = filled_buffer(20)
    new = episode_segments(8, seed=5, marker=7.0)
    buffer.extend(new)
    policy = MarkingReanalyzer()
    mw = buffer_reanalyze(
        CFG | {"collect_with_pure_policy": True, "buffer_reanalyze_freq": 0.5}, policy, buffer
    )
    ctx = ReanalyzeContext(new_segments=new)
    mw(ctx)
    assert policy.calls == [[0, 6]]  # the two new segments (episode steps 0 and 6), no pass
    assert new[0].root_values[0] == 7000.0


def test_counters_accumulate_in_a_task():
    buffer = filled_buffer(20)
    sizes = [s.length + s.num_padding for s in buffer.segments()]

    def no_new_data(ctx):
        ctx.new_segments = []

    task = Task(ReanalyzeContext())
    task.use(middleware(no_new_data, role="collector", writes=("new_segments",)))
    task.use(buffer_reanalyze(CFG, MarkingReanalyzer(), buffer))
    ctx = task.run(max_steps=3)
    assert ctx.reanalyzed_states == sum(sizes) + sizes[0] + sizes[1]  # 3 passes of 2 windows
    assert ctx.reanalyze_output is None  # a per-step field, renewed after the last step


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("buffer_reanalyze_freq", 0, "buffer_reanalyze_freq"),
        ("reanalyze_partition", 1.5, "reanalyze_partition"),
        ("reanalyze_batch_size", 0, "reanalyze_batch_size"),
    ],
)
def test_bad_options_are_named(key, value, message):
    with pytest.raises(ValueError, match=message):
        buffer_reanalyze(CFG | {key: value}, MarkingReanalyzer(), make_buffer())


def test_a_policy_without_reanalysis_is_refused():
    with pytest.raises(TypeError, match="reanalyze_segments"):
        buffer_reanalyze(CFG, object(), make_buffer())


def test_write_search_targets_checks_shapes():
    seg = episode_segments(5)[0]
    with pytest.raises(ValueError, match=r"child_visits must be \[5, 3\]"):
        write_search_targets(seg, np.ones((4, A)), np.zeros(4))
    with pytest.raises(ValueError, match="positive sum"):
        write_search_targets(seg, np.zeros((5, A)), np.zeros(5))
