"""MinAtar (Young & Tian, 2019) through the ``minatar`` package's own gymnasium environments.

MinAtar's five games (Asterix, Breakout, Freeway, Seaquest, SpaceInvaders) keep the mechanics
of their Atari originals on a 10x10 grid of ``C`` boolean object channels (4 to 10 by game).
The package registers two gymnasium ids per game:

- ``MinAtar/<Game>-v1``: the game's *minimal* action set (Breakout 3, Freeway 3, Asterix 5,
  SpaceInvaders 4, Seaquest 6 actions); the pipezero recipes' default;
- ``MinAtar/<Game>-v0``: all 6 actions (no-op, left, up, right, down, fire) in every game, the
  action set of the original MinAtar paper.

:func:`make_minatar_env` builds one with sticky actions (probability 0.1, MinAtar's default:
the previous action repeats instead of the chosen one) and difficulty ramping (MinAtar's
default), and turns the ``[10, 10, C]`` bool grid into ``[C, 10, 10]`` uint8 in {0, 1}
(:class:`ChannelsFirst`); :class:`~pipezero.envs.GymAdapter` hands it to the agent as
float32 with the same values, and collectors store it as uint8. ``BatchEnv.make`` calls it
for every ``MinAtar/`` id. Episodes are truncated after ``max_episode_steps`` (a safety cap;
MinAtar itself has none, and Breakout or Seaquest can go on for as long as the agent lasts).

MinAtar is GPL-3.0, so it is an optional extra: ``pip install "pipezero[minatar]"``.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import gymnasium as gym
import numpy as np

#: MinAtar's defaults, and the episode cap of :func:`make_minatar_env`.
MINATAR_DEFAULTS = {
    "sticky_action_prob": 0.1,
    "difficulty_ramping": True,
    "max_episode_steps": 10_000,
}
#: The five games, as in their gymnasium ids.
MINATAR_GAMES = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")


def is_minatar_id(env_id: str) -> bool:
    """Whether ``env_id`` names a MinAtar game (``"MinAtar/Breakout-v1"``)."""
    return env_id.startswith("MinAtar/")


def _register_minatar() -> None:
    try:
        import minatar.gym
    except ImportError as err:
        found = sys.modules.get("minatar")
        origin = getattr(found, "__file__", None)
        if found is not None and not hasattr(found, "__path__"):  # a module, not the package
            raise ImportError(
                f"MinAtar: 'import minatar' found {origin}, a file that hides the minatar "
                "package; rename it, or run from a directory that does not hold it (a script "
                "puts its own directory first on sys.path)"
            ) from err
        raise ImportError(
            'MinAtar needs the minatar package (GPL-3.0): pip install "pipezero[minatar]"'
        ) from err
    if "MinAtar/Breakout-v1" not in gym.registry:  # gymnasium >= 1.0 loads no plugins itself
        minatar.gym.register_envs()


class ChannelsFirst(gym.ObservationWrapper):
    """``[H, W, C]`` bool grids -> ``[C, H, W]`` uint8 in {0, 1}."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        h, w, c = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0, 1, shape=(c, h, w), dtype=np.uint8)

    def observation(self, observation: Any) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(observation, dtype=np.uint8).transpose(2, 0, 1))


def make_minatar_env(
    env_id: str = "MinAtar/Breakout-v1",
    *,
    sticky_action_prob: float = MINATAR_DEFAULTS["sticky_action_prob"],
    difficulty_ramping: bool = MINATAR_DEFAULTS["difficulty_ramping"],
    max_episode_steps: int | None = MINATAR_DEFAULTS["max_episode_steps"],
    render_mode: str | None = None,
) -> gym.Env:
    """A MinAtar game with ``[C, 10, 10]`` observations (see the module doc).

    Args:
        env_id: ``"MinAtar/<Game>-v1"`` (minimal action set) or ``-v0`` (all 6 actions).
        sticky_action_prob: probability that the previous action repeats.
        difficulty_ramping: games speed up as they go on (MinAtar's default).
        max_episode_steps: episodes are truncated there; ``None``: never.
        render_mode: ``"rgb_array"`` for ``pipezero render``.

    Raises:
        ImportError: minatar is not installed; the message says how to install it.
    """
    _register_minatar()
    with warnings.catch_warnings():  # "-v0 is out of date": v0 is the full action set
        warnings.filterwarnings("ignore", message=".*is out of date.*")
        env = gym.make(
            env_id,
            sticky_action_prob=sticky_action_prob,
            difficulty_ramping=difficulty_ramping,
            max_episode_steps=max_episode_steps,
            render_mode=render_mode,
        )
    return ChannelsFirst(env)
