"""Environment snapshots as plain data, per family: a restored environment replays exactly."""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from pipezero.envs import BatchEnv, GymAdapter
from pipezero.envs.board.gym_env import BoardGameGymEnv
from pipezero.envs.snapshot import EnvSnapshotError, capture_state, restore_state

needs_minatar = pytest.mark.skipif(
    importlib.util.find_spec("minatar") is None, reason="needs the minatar extra"
)
needs_ale = pytest.mark.skipif(importlib.util.find_spec("ale_py") is None, reason="needs ale-py")


def batch(make: str | Any, seed: int) -> BatchEnv:
    if isinstance(make, str):
        return BatchEnv.make(make, 2, seed=seed)
    return BatchEnv([GymAdapter(make(), seed=seed + i) for i in range(2)])


def legal_actions(envs: BatchEnv, obs: Any, rng: np.random.Generator) -> np.ndarray:
    if envs.continuous:
        return rng.uniform(-1, 1, (envs.num_envs, *envs.action_shape))
    return np.array([rng.choice(np.flatnonzero(mask)) for mask in obs.action_mask])


def play(envs: BatchEnv, obs: Any, rng: np.random.Generator, steps: int) -> list[np.ndarray]:
    """Observations and rewards of ``steps`` batched steps (episodes restart inside)."""
    seen = []
    for _ in range(steps):
        out = envs.step(legal_actions(envs, obs, rng))
        obs = out.obs
        seen += [obs.observation.copy(), obs.action_mask.copy(), out.reward.copy(), out.done]
    return seen


FAMILIES = [
    pytest.param("CartPole-v1", id="classic-cartpole"),
    pytest.param("Acrobot-v1", id="classic-acrobot"),
    pytest.param("MountainCar-v0", id="classic-mountaincar"),
    pytest.param("Pendulum-v1", id="classic-pendulum-continuous"),
    pytest.param("pipezero/Game2048-v0", id="2048"),
    pytest.param(lambda: BoardGameGymEnv("tictactoe", battle_mode="play_with_bot"), id="tictactoe"),
    pytest.param(lambda: BoardGameGymEnv("connect4"), id="connect4-self-play"),
    pytest.param("MinAtar/Breakout-v1", id="minatar-breakout", marks=needs_minatar),
    pytest.param("MinAtar/Seaquest-v1", id="minatar-seaquest", marks=needs_minatar),
    pytest.param(
        lambda: __import__("pipezero.envs.atari").envs.atari.make_atari_env(
            "ALE/Pong-v5", sticky_action_prob=0.0
        ),
        id="atari-pong-without-sticky-actions",
        marks=needs_ale,
    ),
]


@pytest.mark.parametrize("make", FAMILIES)
def test_a_snapshot_restored_into_a_fresh_environment_replays_the_same_steps(make):
    import pipezero.envs.game2048  # noqa: F401  (registers pipezero/Game2048-v0)

    envs = batch(make, seed=5)
    rng = np.random.default_rng(0)
    obs = envs.reset()
    for _ in range(12):
        obs = envs.step(legal_actions(envs, obs, rng)).obs
    saved = envs.state_dict()
    assert saved["reasons"] == [None, None]
    ahead = play(envs, obs, np.random.default_rng(1), 60)

    fresh = batch(make, seed=99)  # other seeds: everything must come from the snapshot
    assert fresh.load_state_dict(saved).all()
    again = play(fresh, obs, np.random.default_rng(1), 60)
    assert all(np.array_equal(a, b) for a, b in zip(ahead, again, strict=True))


class Locked(gym.Env):
    observation_space = gym.spaces.Box(0.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[np.ndarray, dict]:
        return np.zeros(4, np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        return np.zeros(4, np.float32), 0.0, False, False, {}


def test_an_object_that_is_not_data_makes_the_environment_not_snapshottable():
    with pytest.raises(EnvSnapshotError, match=r"env\.lock: _thread\.lock is not plain data"):
        capture_state(Locked())
    envs = BatchEnv([GymAdapter(Locked()), GymAdapter("CartPole-v1", seed=0)])
    envs.reset()
    saved = envs.state_dict()
    assert saved["envs"][0] is None and "env.lock" in saved["reasons"][0]
    assert saved["envs"][1] is not None and saved["reasons"][1] is None
    assert envs.load_state_dict(saved).tolist() == [False, True]


def test_a_snapshot_does_not_fit_another_environment():
    cartpole = gym.make("CartPole-v1")
    cartpole.reset(seed=0)
    with pytest.raises(EnvSnapshotError, match=r"the snapshot holds a .*CartPoleEnv"):
        restore_state(gym.make("Acrobot-v1"), capture_state(cartpole))


class Shared:
    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)
        self.child = type("Child", (), {})()
        self.child.rng = self.rng  # one generator, two holders
        self.child.parent = self  # a cycle
        self.frames = [np.zeros(2), np.zeros(2)]
        self.frames.append(self.frames[0])  # one array, two places


def test_shared_objects_stay_shared_and_cycles_end():
    live = Shared()
    saved = capture_state(live)
    live.rng.random(5)
    live.frames[0][:] = 7.0
    restore_state(live, saved)
    assert live.child.rng is live.rng and live.child.parent is live
    assert live.frames[2] is live.frames[0] and not live.frames[0].any()
    assert live.rng.random() == np.random.default_rng(0).random()


@needs_ale
def test_atari_with_sticky_actions_is_not_snapshottable():
    envs = BatchEnv.make("ALE/Pong-v5", 1, seed=0)
    envs.reset()
    (reason,) = envs.state_dict()["reasons"]
    assert "sticky actions" in reason and "previous action" in reason


def test_a_renderer_that_is_not_data_is_left_out():
    env = Locked()
    env.screen = threading.Lock()  # stands for a pygame surface
    del env.lock
    assert "screen" not in capture_state(env)["attrs"]
