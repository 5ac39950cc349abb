"""Learning-test environments a random or a fixed policy cannot solve."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

CUE_ID = "LearningCue-v0"
CUES, STEPS = 4, 8


class Cue(gym.Env):
    """Each step shows one of four cues (one-hot); the action equal to the cue pays 1. Eight
    steps per episode, cues drawn from the episode's seed: the best return is 8, a random or
    any fixed-action policy averages 2, so only a policy that reads the cue scores high."""

    observation_space = gym.spaces.Box(0.0, 1.0, (CUES,), np.float32)
    action_space = gym.spaces.Discrete(CUES)

    def _obs(self) -> np.ndarray:
        return np.eye(CUES, dtype=np.float32)[self.cue]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.cue = 0, int(self.np_random.integers(CUES))
        return self._obs(), {}

    def step(self, action):
        reward = float(int(action) == self.cue)
        self.t, self.cue = self.t + 1, int(self.np_random.integers(CUES))
        return self._obs(), reward, self.t >= STEPS, False, {}


def register() -> None:
    if CUE_ID not in gym.registry:
        gym.register(CUE_ID, entry_point=Cue)
