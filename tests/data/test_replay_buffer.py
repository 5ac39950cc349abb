import os

import numpy as np
import pytest
import torch
from data_toy import A, K, L, N, make_writer, play_episode

from pipezero.data import (
    GameSegment,
    ReplayBuffer,
    compute_value_targets,
    value_target_inputs,
)

GAMMA = 0.5


def _segments(num_steps, terminated=True, with_pred=False):
    writer = make_writer()
    play_episode(writer, num_steps, terminated, with_pred=with_pred)
    return writer.pop_finished()


def _buffer(capacity=100, **kw):
    kw.setdefault("seed", 0)
    return ReplayBuffer(capacity, K, N, discount_factor=GAMMA, **kw)


def _sample_position(segment, t, terminated=True, **kw):
    """Sample a batch where only position t of ``segment`` has a non-zero priority."""
    buffer = _buffer()
    prio = np.zeros(segment.length)
    prio[t] = 1.0
    buffer.push(segment, prio)
    batch = buffer.sample(4, **kw)
    assert (batch.positions == t).all()
    return batch


def test_nstep_targets_across_the_segment_boundary():
    # episode 0..6 (reward j + 1), terminal final observation 7; segment 0 = steps 0..3
    first, _ = _segments(7)
    batch = _sample_position(first, 3, with_unroll_obs=True)
    row = batch.replace(**{k: v[0] for k, v in batch.arrays().items() if k != "bootstrap_obs"})
    assert row.obs.tolist() == [3.0]
    assert row.unroll_obs.tolist() == [[4.0]] and row.unroll_obs_mask.tolist() == [1.0]
    assert row.actions.tolist() == [1] and row.rewards.tolist() == [4.0]
    # u=3: r3 + g r4 + g^2 V(obs5); u=4 (padding): r4 + g r5 + g^2 V(obs6)
    assert row.reward_sum.tolist() == [4 + 0.5 * 5, 5 + 0.5 * 6]
    assert row.bootstrap_discount.tolist() == [0.25, 0.25]
    assert row.policy_mask.tolist() == [1.0, 1.0]
    assert np.allclose(row.target_policy, [[0.25, 0.75]] * 2)
    assert row.root_values.tolist() == [30.0, 40.0]
    assert row.unroll_mask.tolist() == [1.0, 1.0]
    # bootstrap observations of the first sample: obs 5 and obs 6 (from the padding)
    assert batch.bootstrap_index[:2].tolist() == [0, 1]
    assert batch.bootstrap_obs[:2, 0].tolist() == [5.0, 6.0]
    # and their stored search values (root value 10 * obs), the padding's included
    assert batch.bootstrap_search_values[:2].tolist() == [50.0, 60.0]


def test_nstep_targets_at_a_terminal_episode_end():
    _, second = _segments(7)  # steps 4, 5, 6 then the terminal final observation (7)
    batch = _sample_position(second, 1)
    # u=5: r5 + g r6 then the terminal state (no bootstrap); u=6: r6 only
    assert batch.reward_sum[0].tolist() == [6 + 0.5 * 7, 7.0]
    assert batch.bootstrap_discount[0].tolist() == [0.0, 0.0]
    assert batch.bootstrap_obs.shape == (0, 1)
    batch = _sample_position(second, 2)
    # u=6: r6; u=7 is the final observation: inside the episode, no search, target 0
    assert batch.reward_sum[0].tolist() == [7.0, 0.0]
    assert batch.unroll_mask[0].tolist() == [1.0, 1.0]
    assert batch.policy_mask[0].tolist() == [1.0, 0.0]
    assert batch.rewards[0].tolist() == [7.0]
    assert batch.target_policy[0, 1].tolist() == [0.0, 0.0]
    assert batch.action_masks[0, 1].all()


def test_nstep_targets_at_a_truncated_end_bootstrap_from_the_final_observation():
    _, second = _segments(7, terminated=False)
    batch = _sample_position(second, 2)
    assert batch.reward_sum[0].tolist() == [7.0, 0.0]
    assert batch.bootstrap_discount[0].tolist() == [0.5, 1.0]
    assert batch.bootstrap_obs[:2, 0].tolist() == [7.0, 7.0]
    # the final observation was never searched: no stored value to bootstrap from
    assert np.isnan(batch.bootstrap_search_values[:2]).all()
    inputs = value_target_inputs(batch.to("cpu"))
    values = torch.full((inputs.obs.shape[0],), 10.0)
    targets = compute_value_targets(inputs, values)
    assert targets[0].tolist() == [7.0 + 0.5 * 10.0, 10.0]


def test_episode_ending_inside_the_padding_is_seen_by_the_first_segment():
    first, _ = _segments(6)  # final observation 6 sits in the first segment's padding
    batch = _sample_position(first, 3)
    # u=3: r3 + g r4 + g^2 V(obs5); u=4: r4 + g r5 then terminal
    assert batch.reward_sum[0].tolist() == [4 + 0.5 * 5, 5 + 0.5 * 6]
    assert batch.bootstrap_discount[0].tolist() == [0.25, 0.0]


def test_positions_after_the_end_are_absorbing():
    short = _segments(1)[0]  # one transition then the terminal observation
    buffer = ReplayBuffer(10, num_unroll_steps=3, td_steps=1, seed=0)
    with pytest.raises(ValueError, match="num_unroll_steps \\+ td_steps = 4"):
        buffer.push(short)
    buffer = ReplayBuffer(10, num_unroll_steps=2, td_steps=1, seed=0)
    buffer.push(short)
    batch = buffer.sample(2)
    assert batch.unroll_mask[0].tolist() == [1.0, 1.0, 0.0]
    assert batch.policy_mask[0].tolist() == [1.0, 0.0, 0.0]
    assert batch.rewards[0].tolist() == [1.0, 0.0]
    assert batch.to_play[0].tolist() == [-1, -1, -1]
    assert batch.reward_sum[0].tolist() == [1.0, 0.0, 0.0]
    assert ((batch.actions >= 0) & (batch.actions < A)).all()


def test_eviction_by_real_transition_count():
    buffer = _buffer(capacity=10)
    segs = _segments(4 * 3 + 2)  # lengths 4, 4, 4, 2
    assert [s.length for s in segs] == [4, 4, 4, 2]
    ids = [buffer.push(s) for s in segs[:2]]
    assert buffer.num_transitions == 8 and buffer.num_segments == 2
    ids.append(buffer.push(segs[2]))  # 12 > 10: the oldest segment goes
    assert buffer.num_transitions == 8 and buffer.segments() == segs[1:3]
    ids.append(buffer.push(segs[3]))  # 10 fits exactly
    assert buffer.num_transitions == 10 and buffer.num_segments == 3
    batch = buffer.sample(64)
    assert set(batch.segment_ids.tolist()) <= set(ids[1:])
    assert batch.indices.min() >= 4 and batch.indices.max() < 14
    with pytest.raises(ValueError, match="exceeds capacity"):
        _buffer(capacity=3).push(segs[0])


def test_priority_updates_change_sampling_and_weights():
    buffer = _buffer(capacity=100, priority_prob_alpha=1.0, priority_prob_beta=1.0)
    for seg in _segments(4 * 3 + 1):
        buffer.push(seg)
    n = buffer.num_transitions
    batch = buffer.sample(8)
    assert np.allclose(batch.weights, 1.0)  # all priorities equal (the default max)
    ids = np.arange(n)
    prio = np.where(ids == 5, 9.0, 1.0)
    assert buffer.update_priorities(ids, prio) == n
    assert buffer.get_priorities(np.array([5, 6])).tolist() == [9.0, 1.0]
    counts = np.zeros(n)
    for _ in range(50):
        b = buffer.sample(100)
        counts += np.bincount(b.indices, minlength=n)
        # w = (N P)^-1 normalised by the batch max: priority 9 gets 1/9 of priority 1
        w = dict(zip(b.indices.tolist(), b.weights.tolist(), strict=True))
        if 5 in w and 6 in w:
            assert w[5] == pytest.approx(w[6] / 9, rel=1e-5)
    freq = counts / counts.sum()
    assert freq[5] == pytest.approx(9 / (n + 8), abs=0.02)
    # new segments get the largest priority seen so far
    new_id = buffer.push(_segments(2)[0])
    assert buffer.get_priorities(np.arange(n, n + 2)).tolist() == [9.0, 9.0] and new_id == 4


def test_stale_priority_updates_are_skipped():
    buffer = _buffer(capacity=8)
    segs = _segments(4 * 3)
    buffer.push(segs[0])
    batch = buffer.sample(4)
    buffer.push(segs[1])
    buffer.push(segs[2])  # evicts segs[0]
    assert buffer.update_priorities(batch.indices, np.full(4, 2.0)) == 0
    with pytest.raises(ValueError, match="finite"):
        buffer.update_priorities(np.array([5]), np.array([np.nan]))


def test_uniform_sampling_with_alpha_zero():
    buffer = _buffer(priority_prob_alpha=0.0)
    for seg in _segments(4 * 2 + 1):
        buffer.push(seg, priorities=np.arange(1, seg.length + 1) * 100.0)
    counts = np.zeros(buffer.num_transitions)
    for _ in range(40):
        counts += np.bincount(buffer.sample(100).indices, minlength=len(counts))
    assert np.allclose(counts / counts.sum(), 1 / len(counts), atol=0.02)


def test_save_load_round_trip(tmp_path):
    buffer = _buffer(capacity=10, priority_prob_alpha=0.7)
    for seg in _segments(4 * 3 + 2, terminated=False, with_pred=True):
        buffer.push(seg)
    buffer.update_priorities(np.arange(4, 14), np.linspace(0.5, 5.0, 10))
    path = tmp_path / "buffer.npz"
    buffer.save(path)
    assert os.listdir(tmp_path) == ["buffer.npz"]  # no temporary file left behind
    loaded = ReplayBuffer.load(path)
    assert (loaded.num_transitions, loaded.num_segments) == (10, 3)
    assert loaded.priority_prob_alpha == 0.7 and loaded.discount_factor == GAMMA
    ids = np.arange(4, 14)
    assert np.array_equal(loaded.get_priorities(ids), buffer.get_priorities(ids))
    for a, b in zip(loaded.segments(), buffer.segments(), strict=True):
        assert (a.length, a.num_padding, a.episode_end, a.terminated) == (
            b.length,
            b.num_padding,
            b.episode_end,
            b.terminated,
        )
        assert np.array_equal(a.obs, b.obs) and np.array_equal(a.child_visits, b.child_visits)
        assert np.array_equal(a.pred_values, b.pred_values, equal_nan=True)
        assert not np.isnan(a.pred_values[: a.length]).any()
    one, two = buffer.sample(16, with_unroll_obs=True), loaded.sample(16, with_unroll_obs=True)
    assert one.arrays().keys() == two.arrays().keys()
    for key, array in one.arrays().items():
        same = np.array_equal(array, getattr(two, key), equal_nan=array.dtype.kind == "f")
        assert same, key
    # the loaded buffer keeps working: new ids continue, eviction continues
    loaded.push(_segments(4)[0])
    assert loaded.num_transitions == 10 and loaded.segments()[-1].length == 4
    # a file saved before pred_values existed loads with NaN predictions
    with np.load(path) as f:
        old = {k: f[k] for k in f.files if k != "field_pred_values"}
    np.savez(tmp_path / "old.npz", **old)
    old_loaded = ReplayBuffer.load(tmp_path / "old.npz")
    assert all(np.isnan(s.pred_values).all() for s in old_loaded.segments())
    assert np.array_equal(old_loaded.get_priorities(ids), buffer.get_priorities(ids))
    empty = tmp_path / "empty.npz"
    _buffer().save(empty)
    assert ReplayBuffer.load(empty).num_transitions == 0


def test_batch_to_device_and_errors():
    buffer = _buffer()
    with pytest.raises(RuntimeError, match="empty"):
        buffer.sample(2)
    buffer.push(_segments(3)[0])
    batch = buffer.sample(3)
    assert (batch.batch_size, batch.num_unroll_steps) == (3, K)
    assert batch.unroll_obs is None and batch.root_sampled_actions is None
    tensors = batch.to("cpu")
    assert tensors.obs.dtype == torch.float32 and tensors.actions.dtype == torch.int64
    assert tensors.target_policy.shape == (3, K + 1, A) and tensors.unroll_obs is None
    assert np.shares_memory(tensors.weights.numpy(), batch.weights), "the CPU copies nothing"
    with pytest.raises(ValueError, match="finished"):
        buffer.push(GameSegment((1,), A, L, K, N))
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0, K, N)


def test_from_config_reads_the_policy_keys_and_turns_priorities_off():
    from pipezero.policy import muzero_config

    p = muzero_config({"policy": {"replay_buffer_size": 1234, "td_steps": 7}}).policy
    buf = ReplayBuffer.from_config(p, seed=3)
    assert (buf.capacity, buf.td_steps, buf.num_unroll_steps) == (1234, 7, p.num_unroll_steps)
    assert buf.discount_factor == p.discount_factor
    assert buf.priority_prob_alpha == p.priority_prob_alpha > 0
    uniform = ReplayBuffer.from_config(p | {"use_priority": False})
    assert uniform.priority_prob_alpha == uniform.priority_prob_beta == 0.0
