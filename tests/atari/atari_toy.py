"""Small real parts for the Atari tests: a random-frame image environment and a recorder."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from pipezero.data import GameSegment, GameSegmentWriter


class RandomFrames(gym.Env):
    """``[H, W]`` uint8 frames of noise; episodes end (terminated or truncated) at random."""

    def __init__(self, size: int = 96, end_prob: float = 0.02, num_actions: int = 4) -> None:
        self.observation_space = gym.spaces.Box(0, 255, (size, size), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(num_actions)
        self.end_prob = end_prob

    def _frame(self) -> np.ndarray:
        return self.np_random.integers(0, 256, self.observation_space.shape, dtype=np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._frame(), {}

    def step(self, action):
        end = bool(self.np_random.random() < self.end_prob)
        terminated = end and bool(self.np_random.random() < 0.5)
        return self._frame(), 1.0, terminated, end and not terminated, {}


def stacked(env: gym.Env, frames: int = 4) -> gym.Env:
    return gym.wrappers.FrameStackObservation(env, frames)


def record_segments(
    env: gym.Env,
    num_steps: int,
    game_segment_length: int,
    num_unroll_steps: int,
    td_steps: int,
    seed: int = 0,
) -> tuple[list[GameSegment], list[np.ndarray]]:
    """Play ``num_steps`` random steps of ``env`` (episodes restart) and cut the stream into
    finished uint8 segments; also return a copy of each segment's observations as gymnasium
    gave them (the frame store converts segments in place)."""
    rng = np.random.default_rng(seed)
    shape = env.observation_space.shape
    n = env.action_space.n
    writer = GameSegmentWriter(
        shape, n, game_segment_length, num_unroll_steps, td_steps, obs_dtype=np.uint8
    )
    obs, _ = env.reset(seed=seed)
    segments: list[GameSegment] = []
    for _ in range(num_steps):
        action = int(rng.integers(n))
        nxt, reward, terminated, truncated, _ = env.step(action)
        writer.append(obs, np.ones(n, bool), -1, action, reward, np.ones(n), 0.0)
        if terminated or truncated:
            writer.end_episode(nxt, terminated)
            nxt, _ = env.reset()
        obs = nxt
        segments += writer.pop_finished()
    return segments, [np.array(seg.obs, copy=True) for seg in segments]
