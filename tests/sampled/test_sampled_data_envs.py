"""Continuous actions and sampled root actions through segments, the buffer and Box envs."""

import numpy as np
import pytest

from pipezero.data import GameSegment, GameSegmentWriter, ReplayBuffer, load_buffer, save_buffer
from pipezero.envs import BatchEnv, GymAdapter

K, TD, KS, D = 2, 3, 4, 2


def _continuous_segments(num_steps=12, seed=0):
    """Segments of one episode with [D] actions and [KS, D] sampled root actions; the
    chosen action is the sampled slot 1 and its visit distribution is (0.1, 0.6, 0.2, 0.1)."""
    rng = np.random.default_rng(seed)
    writer = GameSegmentWriter((3,), 0, 6, K, TD, action_shape=(D,), num_sampled_actions=KS)
    sampled_log = []
    for t in range(num_steps):
        sampled = rng.uniform(-1, 1, size=(KS, D)).astype(np.float32)
        sampled_log.append(sampled)
        writer.append(
            np.full(3, t, np.float32),
            np.zeros(0, bool),
            -1,
            sampled[1],
            -float(t),
            np.array([1.0, 6.0, 2.0, 1.0]),
            0.5,
            0.4,
            sampled,
        )
    writer.end_episode(np.full(3, num_steps, np.float32), terminated=False)
    return writer.pop_finished(), np.stack(sampled_log)


def test_continuous_actions_and_sampled_actions_round_trip_through_the_buffer(tmp_path):
    segments, sampled_log = _continuous_segments()
    assert segments[0].actions.shape[1:] == (D,) and segments[0].actions.dtype == np.float32
    assert segments[0].root_sampled_actions.shape[1:] == (KS, D)
    buffer = ReplayBuffer(100, K, TD, discount_factor=0.9, seed=0)
    buffer.extend(segments)
    batch = buffer.sample(32)
    assert batch.actions.shape == (32, K, D) and batch.actions.dtype == np.float32
    assert batch.target_policy.shape == (32, K + 1, KS)
    assert batch.root_sampled_actions.shape == (32, K + 1, KS, D)
    assert batch.action_masks.shape == (32, K + 1, 0)
    t = batch.obs[:, 0].astype(int)  # the observation holds the step index
    for row in range(32):
        for k in range(K + 1):
            if batch.policy_mask[row, k]:
                step = t[row] + k
                assert np.array_equal(batch.root_sampled_actions[row, k], sampled_log[step])
                assert np.allclose(batch.target_policy[row, k], [0.1, 0.6, 0.2, 0.1])
                if k < K:
                    assert np.array_equal(batch.actions[row, k], sampled_log[step][1])
            else:
                assert not batch.root_sampled_actions[row, k].any()
    save_buffer(buffer, tmp_path / "buf.npz")
    loaded = load_buffer(tmp_path / "buf.npz")
    for a, b in zip(buffer.segments(), loaded.segments(), strict=True):
        assert a.layout == b.layout
        assert np.array_equal(a.actions, b.actions)
        assert np.array_equal(a.root_sampled_actions, b.root_sampled_actions)


def test_discrete_segments_keep_their_layout_and_mixing_layouts_is_refused():
    seg = GameSegment((2,), 3, 5, K, TD)
    assert seg.actions.dtype == np.int64 and seg.root_sampled_actions.shape == (10, 0)
    assert seg.layout == ((2,), 3, (), 0)
    segments, _ = _continuous_segments()
    discrete = GameSegmentWriter((3,), 2, 6, K, TD)
    for _ in range(6):
        discrete.append(np.zeros(3), np.ones(2, bool), -1, 1, 0.0, np.ones(2), 0.0)
    discrete.end_episode(np.zeros(3), terminated=True)
    buffer = ReplayBuffer(100, K, TD)
    buffer.extend(segments)
    with pytest.raises(ValueError, match="num_sampled_actions"):
        buffer.extend(discrete.pop_finished())


def test_sampled_segments_need_their_root_actions_and_continuous_needs_a_sampled_search():
    seg = GameSegment((3,), 0, 6, K, TD, action_shape=(D,), num_sampled_actions=KS)
    with pytest.raises(ValueError, match="root_sampled_actions"):
        seg.append(np.zeros(3), np.zeros(0, bool), -1, np.zeros(D), 0.0, np.ones(KS), 0.0)
    with pytest.raises(ValueError, match="num_sampled_actions > 0"):
        GameSegment((3,), 0, 6, K, TD, action_shape=(D,))


def test_box_adapter_rescales_unit_actions_to_the_bounds():
    env = GymAdapter("Pendulum-v1", seed=0)
    assert env.continuous and env.action_shape == (1,) and env.action_space_size == 0
    assert env.action_dim == 1 and env.action_low.tolist() == [-2.0]
    assert env.action_high.tolist() == [2.0]
    obs = env.reset()
    assert obs.action_mask.shape == (0,)
    for unit, torque in ((-1.0, -2.0), (1.0, 2.0), (0.0, 0.0), (0.25, 0.5), (3.0, 2.0)):
        env.step(np.array([unit], np.float32))
        assert float(env.env.unwrapped.last_u) == pytest.approx(torque)
    assert env.env_action(np.array([-0.5])).dtype == np.float32
    with pytest.raises(ValueError, match=r"shape \[1\]"):
        env.step(np.zeros(2))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan]))


def test_batch_env_steps_continuous_actions():
    envs = BatchEnv.make("MountainCarContinuous-v0", num_envs=3, seed=0)
    assert envs.continuous and envs.action_shape == (1,)
    obs = envs.reset()
    assert obs.action_mask.shape == (3, 0)
    out = envs.step(np.array([[1.0], [-1.0], [0.0]], np.float32))
    assert out.reward.shape == (3,)
    # the reward is -0.1 a^2 in env units (bounds [-1, 1]) away from the goal
    assert out.reward.tolist() == pytest.approx([-0.1, -0.1, 0.0])
    with pytest.raises(ValueError, match="shape"):
        envs.step(np.zeros(3))
