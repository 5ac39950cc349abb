"""A six-cell corridor: walk right to the end (return 0.96 at best; a random walk scores less)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

ENV_ID = "LearningCorridor-v0"
BEST_RETURN = 0.96  # five steps right: 4 x -0.01 + 1


class Corridor(gym.Env):
    observation_space = gym.spaces.Box(0.0, 1.0, (6,), np.float32)  # one-hot position
    action_space = gym.spaces.Discrete(2)  # 0: left, 1: right

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos, self.t = 0, 0
        return np.eye(6, dtype=np.float32)[self.pos], {}

    def step(self, action):
        self.pos, self.t = min(max(self.pos + 2 * int(action) - 1, 0), 5), self.t + 1
        done = self.pos == 5
        obs = np.eye(6, dtype=np.float32)[self.pos]
        return obs, 1.0 if done else -0.01, done, self.t >= 30, {}


def register() -> None:
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point=Corridor)


def random_returns(episodes: int, seed: int) -> np.ndarray:
    """The returns of the uniform-random policy (what "learned" has to beat)."""
    env, rng, out = Corridor(), np.random.default_rng(seed), []
    for i in range(episodes):
        env.reset(seed=seed + i)
        done, total = False, 0.0
        while not done:
            _, r, term, trunc, _ = env.step(int(rng.integers(2)))
            total, done = total + r, term or trunc
        out.append(total)
    return np.array(out)
