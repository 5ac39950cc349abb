import gymnasium as gym
import numpy as np
import pytest

from pipezero.envs import GymAdapter


class _MaskedTwoPlayerEnv(gym.Env):
    """Tiny env with Discrete(3, start=5) actions that reports action_mask/to_play in info."""

    observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float64)
    action_space = gym.spaces.Discrete(3, start=5)

    def __init__(self):
        self.taken = []
        self.t = 0

    def _info(self):
        return {"action_mask": np.array([1, 0, 1], dtype=np.int8), "to_play": 1 + self.t % 2}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2), self._info()

    def step(self, action):
        self.taken.append(action)
        self.t += 1
        return np.full(2, 0.5), 2.0, self.t >= 2, False, self._info()


class _DictObsEnv(gym.Env):
    observation_space = gym.spaces.Dict({"a": gym.spaces.Box(0, 1, (2,))})
    action_space = gym.spaces.Discrete(2)


def test_cartpole_observation_mask_to_play_and_episode_stats():
    env = GymAdapter("CartPole-v1", seed=0)
    assert env.observation_shape == (4,) and env.action_space_size == 2
    obs = env.reset()
    assert obs.observation.dtype == np.float32 and obs.observation.shape == (4,)
    assert obs.action_mask.dtype == bool and obs.action_mask.tolist() == [True, True]
    assert obs.to_play == -1
    total, length = 0.0, 0
    while True:
        result = env.step(0)
        total += result.reward
        length += 1
        assert result.obs.observation.dtype == np.float32
        if result.done:
            break
        assert result.episode is None
    assert result.terminated and not result.truncated
    assert result.episode.episode_return == total == length
    assert result.episode.length == length and result.episode.terminated
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_seeding_is_reproducible_and_seeds_differ():
    a = GymAdapter("CartPole-v1", seed=3).reset().observation
    b = GymAdapter("CartPole-v1", seed=3).reset().observation
    c = GymAdapter("CartPole-v1", seed=4).reset().observation
    assert np.array_equal(a, b) and not np.array_equal(a, c)


class _MultiDiscreteActionEnv(gym.Env):
    observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.MultiDiscrete([2, 3])


def test_unsupported_action_space_is_rejected_with_a_helpful_message():
    with pytest.raises(ValueError, match=r"MultiDiscrete.*supports \('Discrete', 'Box'\)"):
        GymAdapter(_MultiDiscreteActionEnv())


def test_dict_observation_space_is_rejected():
    with pytest.raises(ValueError, match=r"Dict.*not supported.*FlattenObservation"):
        GymAdapter(_DictObsEnv())


def test_discrete_observations_are_one_hot():
    env = GymAdapter("FrozenLake-v1", seed=0, is_slippery=False)
    obs = env.reset().observation
    assert obs.shape == (16,) and obs.dtype == np.float32
    assert obs[0] == 1.0 and obs.sum() == 1.0
    obs = env.step(2).obs.observation  # move right: state 1
    assert obs[1] == 1.0 and obs.sum() == 1.0


def test_info_mask_to_play_and_action_start_offset():
    raw = _MaskedTwoPlayerEnv()
    env = GymAdapter(raw)
    obs = env.reset()
    assert obs.action_mask.tolist() == [True, False, True] and obs.to_play == 1
    assert obs.observation.dtype == np.float32
    result = env.step(2)
    assert raw.taken == [7]  # index 2 of Discrete(3, start=5)
    assert result.obs.to_play == 2
    with pytest.raises(ValueError, match=r"action 3 is out of range.*\[0, 3\)"):
        env.step(3)
    with pytest.raises(ValueError, match="make_kwargs"):
        GymAdapter(raw, render_mode="human")
