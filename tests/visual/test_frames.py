"""FrameTap and AdapterTap: pictures only while watched, at most one per interval per env."""

from __future__ import annotations

import os
import time
from typing import ClassVar

import gymnasium as gym
import numpy as np
import pytest

from pipezero.envs import BatchEnv
from pipezero.envs.grid_render import PALETTE
from pipezero.visual import FrameTap, to_rgb
from pipezero.visual.frames import CELL_COLOURS, MAX_SIDE, MIN_SIDE, grid_picture


class GridEnv(gym.Env):
    """A 2-channel 5x5 grid; counts its render calls."""

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"]}

    def __init__(self, render_mode=None):
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0, 1, (2, 5, 5), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(2)
        self.renders = 0
        self.t = 0

    def _obs(self):
        obs = np.zeros((2, 5, 5), dtype=np.uint8)
        obs[0, self.t % 5, 0] = 1
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), 0.0, self.t >= 50, False, {}

    def render(self):
        self.renders += 1
        return np.full((120, 80, 3), 200, dtype=np.uint8)


def test_to_rgb_scales_floats_greys_and_sizes():
    small = to_rgb(np.full((10, 10, 3), 0.5, dtype=np.float32))  # MinAtar-like
    assert small.dtype == np.uint8 and small[0, 0, 0] == 127
    assert max(small.shape[:2]) >= MIN_SIDE
    grey = to_rgb(np.zeros((84, 84), dtype=np.uint8))
    assert grey.shape[2] == 3
    big = to_rgb(np.zeros((400, 600, 4), dtype=np.uint8))
    assert big.shape == (200, 300, 3) and max(big.shape[:2]) <= MAX_SIDE
    with pytest.raises(ValueError, match="frame must be"):
        to_rgb(np.zeros((2, 3, 4, 5)))


def test_grid_picture_leaves_out_flag_planes():
    obs = np.zeros((3, 3, 3), dtype=np.float32)
    obs[0, 0, 0] = obs[1, 1, 1] = 1
    obs[2] = 1  # "player 1 to move" everywhere
    picture = grid_picture(obs, cell=10)
    mine, theirs, empty = picture[5, 5], picture[15, 15], picture[25, 25]
    assert not np.array_equal(mine, theirs)
    # the flag plane did not paint the empty cells
    assert np.array_equal(empty, PALETTE[CELL_COLOURS[0]])


def _tapped(tap: FrameTap, render_mode=None) -> BatchEnv:
    envs = BatchEnv.make(lambda: GridEnv(render_mode), 3, seed=0)
    tap.attach(envs)
    envs.reset()
    return envs


def _step(envs: BatchEnv, n: int) -> None:
    for _ in range(n):
        envs.step(np.zeros(envs.num_envs, dtype=np.int64))


def test_no_picture_is_taken_while_nobody_watches():
    tap = FrameTap(max_envs=2, interval=0.05)
    envs = _tapped(tap, render_mode="rgb_array")
    _step(envs, 30)
    assert tap.latest() == {} and tap.attached == 2
    assert all(adapter.env.unwrapped.renders == 0 for adapter in envs.envs)


def test_watched_envs_give_at_most_one_picture_per_interval():
    tap = FrameTap(max_envs=2, interval=10.0)
    envs = _tapped(tap)
    tap.want()
    _step(envs, 20)
    frames = tap.latest()
    assert sorted(frames) == [0, 1]  # env 2 is not tapped
    versions = {i: v for i, (v, _) in frames.items()}
    _step(envs, 20)  # inside the interval: no new picture
    assert {i: v for i, (v, _) in tap.latest().items()} == versions
    picture = frames[0][1]
    assert picture.dtype == np.uint8 and picture.ndim == 3  # grid observation drawn as cells


def test_an_environment_that_draws_itself_is_rendered():
    class Wide(GridEnv):  # a non-grid observation: the env's own picture is used
        def __init__(self, render_mode=None):
            super().__init__(render_mode)
            self.observation_space = gym.spaces.Box(0, 1, (4,), dtype=np.float32)

        def _obs(self):
            return np.zeros(4, dtype=np.float32)

    tap = FrameTap(max_envs=1, interval=0.01)
    envs = BatchEnv.make(lambda: Wide("rgb_array"), 1, seed=0)
    tap.attach(envs)
    tap.want()
    envs.reset()
    assert tap.latest()[0][1].shape[:2] == (240, 160)  # 120x80 grown to >= MIN_SIDE
    assert envs.envs[0].env.unwrapped.renders == 1

    blind = FrameTap(max_envs=1, interval=0.01)
    envs = BatchEnv.make(lambda: Wide(None), 1, seed=0)
    blind.attach(envs)
    blind.want()
    envs.reset()
    assert blind.latest() == {} and "draws no picture" in blind.notes()[0]


def test_watching_stops_after_linger():
    tap = FrameTap(linger=0.05)
    tap.want()
    assert tap.wanted()
    time.sleep(0.1)
    assert not tap.wanted()


def test_pictures_from_a_forked_collector_are_seen():
    tap = FrameTap(max_envs=1, interval=0.01)
    envs = _tapped(tap)
    tap.want()
    pid = os.fork()
    if pid == 0:  # the collector's process
        try:
            _step(envs, 3)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert 0 in tap.latest()


def test_without_pillow_nothing_is_watched(monkeypatch):
    import pipezero.visual.frames as frames

    monkeypatch.setattr(frames, "pillow_available", lambda: False)
    tap = FrameTap()
    assert tap.disabled and "pip install" in tap.disabled
    envs = _tapped(tap)
    assert tap.attached == 0 and "step_into" not in vars(envs.envs[0])
    assert tap.render_kwargs("CartPole-v1") == {}


def test_the_environment_chain_is_left_as_it_is():
    tap = FrameTap(max_envs=1)
    envs = BatchEnv.make(lambda: GridEnv(), 1, seed=0)
    env = envs.envs[0].env
    tap.attach(envs)
    assert envs.envs[0].env is env  # checkpoints record the same environment state
    assert "step_into" in vars(envs.envs[0])


def test_a_watched_collectors_state_restores_without_the_tap():
    tap = FrameTap(max_envs=2, interval=0.01)
    envs = BatchEnv.make("CartPole-v1", 2, seed=0, **tap.render_kwargs("CartPole-v1"))
    tap.attach(envs)
    envs.reset()
    tap.want()
    envs.step(np.zeros(2, dtype=np.int64))
    state = envs.state_dict()
    assert state["reasons"] == [None, None]  # the tap adds nothing a snapshot must refuse
    plain = BatchEnv.make("CartPole-v1", 2, seed=5)
    plain.load_state_dict(state)  # a run resumed without --visual
    watched, resumed = envs.envs[0].step(0), plain.envs[0].step(0)
    assert np.array_equal(watched.obs.observation, resumed.obs.observation)
