"""MinAtar through BatchEnv: shapes, dtypes, action sets, sticky actions, episode ends, seeding."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from pipezero.envs import BatchEnv
from pipezero.envs.minatar import MINATAR_GAMES, is_minatar_id, make_minatar_env

CHANNELS = {"Asterix": 4, "Breakout": 4, "Freeway": 7, "Seaquest": 10, "SpaceInvaders": 6}
MINIMAL_ACTIONS = {"Asterix": 5, "Breakout": 3, "Freeway": 3, "Seaquest": 6, "SpaceInvaders": 4}
needs_minatar = pytest.mark.skipif(
    importlib.util.find_spec("minatar") is None,
    reason='MinAtar is an optional extra: pip install "pipezero[minatar]"',
)


@needs_minatar
@pytest.mark.parametrize("game", MINATAR_GAMES)
def test_channels_first_observations_and_action_sets(game):
    envs = BatchEnv.make(f"MinAtar/{game}-v1", 2, seed=0)
    obs = envs.reset()
    assert obs.observation.shape == (2, CHANNELS[game], 10, 10)
    assert obs.observation.dtype == np.float32
    assert set(np.unique(obs.observation)) <= {0.0, 1.0}
    assert obs.action_mask.shape == (2, MINIMAL_ACTIONS[game]) and obs.action_mask.all()
    assert (obs.to_play == -1).all()
    assert envs.obs_storage_dtype == np.uint8  # stored losslessly, 4x smaller than float32
    assert BatchEnv.make(f"MinAtar/{game}-v0", 1).action_space_size == 6  # the full set
    step = envs.step(np.zeros(2, dtype=np.int64))
    assert step.obs.observation.shape == (2, CHANNELS[game], 10, 10)
    assert step.obs.action_mask.all()


@needs_minatar
def test_the_grid_is_the_games_state_transposed():
    env = make_minatar_env("MinAtar/Breakout-v1")
    obs, _ = env.reset(seed=3)
    state = env.unwrapped.game.state()  # [10, 10, C] bool
    np.testing.assert_array_equal(obs, state.transpose(2, 0, 1).astype(np.uint8))


@needs_minatar
def test_sticky_actions_default_and_setting():
    assert make_minatar_env("MinAtar/Breakout-v1").unwrapped.game.sticky_action_prob == 0.1
    env = make_minatar_env("MinAtar/Breakout-v1", sticky_action_prob=0.0)
    assert env.unwrapped.game.sticky_action_prob == 0.0
    envs = BatchEnv.make("MinAtar/Breakout-v1", 1, sticky_action_prob=0.5)
    assert envs.envs[0].env.unwrapped.game.sticky_action_prob == 0.5


@needs_minatar
def test_sticky_actions_repeat_the_previous_action():
    """Freeway's chicken moves up with action ``up``; with p=1 the first action (no-op,
    MinAtar's initial ``last_action``) repeats forever and the chicken never moves."""

    def chicken_moved(p: float) -> bool:
        env = make_minatar_env("MinAtar/Freeway-v0", sticky_action_prob=p)
        first, _ = env.reset(seed=0)
        moved = False
        for _ in range(10):
            obs, *_ = env.step(2)  # up
            moved |= not np.array_equal(obs[0], first[0])  # channel 0: the chicken
        return moved

    assert not chicken_moved(1.0)
    assert chicken_moved(0.0)


def _play(seed: int, steps: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    envs = BatchEnv.make("MinAtar/Asterix-v1", 3, seed=seed)
    envs.reset()
    rng = np.random.default_rng(0)
    observations, rewards, dones = [], [], []
    for _ in range(steps):
        step = envs.step(rng.integers(0, envs.action_space_size, 3))
        observations.append(step.final_observation)
        rewards.append(step.reward)
        dones.append(step.done)
    return np.stack(observations), np.stack(rewards), np.stack(dones)


@needs_minatar
def test_seeding_reproduces_the_games():
    a, b, other = _play(7), _play(7), _play(8)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], other[0])
    assert a[2].any(), "episodes ended (and reset) within the test"


@needs_minatar
def test_terminal_steps_and_the_episode_cap():
    envs = BatchEnv.make("MinAtar/Breakout-v1", 2, seed=0)
    envs.reset()
    for _ in range(2000):
        step = envs.step(np.zeros(2, dtype=np.int64))
        if step.episodes:
            break
    assert step.episodes and all(ep.terminated for _, ep in step.episodes)
    assert step.terminated.any() and not step.truncated.any()
    capped = BatchEnv.make("MinAtar/Freeway-v1", 1, seed=0, max_episode_steps=5)
    capped.reset()
    for _ in range(5):
        step = capped.step(np.zeros(1, dtype=np.int64))
    assert step.truncated[0] and not step.terminated[0]
    assert step.episodes[0][1].length == 5


def test_ids():
    assert is_minatar_id("MinAtar/Breakout-v1")
    assert not is_minatar_id("ALE/Breakout-v5") and not is_minatar_id("CartPole-v1")


def test_a_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "minatar.gym", None)  # import minatar.gym fails
    with pytest.raises(ImportError, match=r'pip install "pipezero\[minatar\]"'):
        BatchEnv.make("MinAtar/Breakout-v1", 1)


def test_a_file_named_minatar_hiding_the_package_is_named(monkeypatch, tmp_path):
    # a script's own directory comes first on sys.path: benchmarks/minatar.py once hid the
    # package from a benchmark script evaluating a MinAtar run in its own process
    (tmp_path / "minatar.py").write_text("")
    for name in [m for m in sys.modules if m == "minatar" or m.startswith("minatar.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match=r"minatar\.py, a file that hides the minatar package"):
        BatchEnv.make("MinAtar/Breakout-v1", 1)
