import gymnasium as gym
import numpy as np
import pytest

from pipezero.envs import BatchEnv, GymAdapter


def test_batched_stepping_matches_single_envs_across_episode_ends():
    n, seed, steps = 3, 11, 120
    batch = BatchEnv.make("CartPole-v1", num_envs=n, seed=seed)
    singles = [GymAdapter("CartPole-v1", seed=seed + i) for i in range(n)]
    rng = np.random.default_rng(0)
    bobs = batch.reset()
    sobs = [env.reset() for env in singles]
    assert np.array_equal(bobs.observation, np.stack([o.observation for o in sobs]))
    ends = 0
    for _ in range(steps):
        actions = rng.integers(0, 2, n)
        step = batch.step(actions)
        for i, env in enumerate(singles):
            result = env.step(int(actions[i]))
            assert step.reward[i] == result.reward
            assert step.terminated[i] == result.terminated
            assert step.truncated[i] == result.truncated
            assert np.array_equal(step.final_observation[i], result.obs.observation)
            if result.done:
                ends += 1
                assert (i, result.episode) in step.episodes
                sobs[i] = env.reset()
            else:
                sobs[i] = result.obs
            assert np.array_equal(step.obs.observation[i], sobs[i].observation)
        assert step.obs.observation.shape == (n, 4)
        assert step.obs.action_mask.shape == (n, 2) and step.obs.action_mask.all()
        assert (step.obs.to_play == -1).all() and step.done.dtype == bool
    assert ends >= 5  # random CartPole episodes last ~20 steps


def test_returned_arrays_are_not_reused_between_steps():
    batch = BatchEnv.make("CartPole-v1", num_envs=2, seed=0)
    first = batch.reset().observation
    kept = first.copy()
    step = batch.step([0, 1])
    batch.step([1, 0])
    assert np.array_equal(first, kept)
    assert not np.shares_memory(step.obs.observation, first)


def test_batch_env_errors():
    batch = BatchEnv.make("CartPole-v1", num_envs=2, seed=0)
    with pytest.raises(RuntimeError, match="reset"):
        batch.step([0, 0])
    batch.reset()
    with pytest.raises(ValueError, match=r"expected 2 actions.*\(3,\)"):
        batch.step([0, 0, 1])
    with pytest.raises(ValueError, match="same observation shape"):
        BatchEnv([GymAdapter("CartPole-v1"), GymAdapter("Acrobot-v1")])
    with pytest.raises(ValueError, match="num_envs"):
        BatchEnv.make("CartPole-v1", num_envs=0)


class _StepMaskEnv(gym.Env):
    """Reports an action mask after steps but not at reset; episodes last two steps."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.ones(1, np.float32), 1.0, self.t == 2, False, {"action_mask": [1, 0, 0]}


def test_masks_reset_with_the_episode():
    batch = BatchEnv([GymAdapter(_StepMaskEnv()), GymAdapter(_StepMaskEnv())])
    assert batch.reset().action_mask.all()
    step = batch.step([0, 0])
    assert step.obs.action_mask.tolist() == [[True, False, False]] * 2
    step = batch.step([0, 0])
    assert step.done.all() and step.obs.action_mask.all()
    assert step.final_observation.tolist() == [[1.0], [1.0]]
    assert step.obs.observation.tolist() == [[0.0], [0.0]]
    assert [(i, e.episode_return, e.length) for i, e in step.episodes] == [(0, 2.0, 2), (1, 2.0, 2)]
