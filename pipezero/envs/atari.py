"""Atari 2600 games through ale-py with gymnasium's own preprocessing wrappers.

:func:`make_atari_env` builds the standard MuZero / Atari 100k stack::

    ALE (frameskip=1, sticky actions p=0.25, minimal action set, frame cap)
      -> gymnasium.wrappers.AtariPreprocessing   (no-op starts, frame skip 4 with max-pool,
                                                  grey, resized to screen_size x screen_size)
      -> EpisodicLife       (optional: a lost life ends the *training* episode, the game goes on)
      -> gymnasium.wrappers.TransformReward(sign) (optional reward clipping)
      -> gymnasium.wrappers.FrameStackObservation (the last frame_stack frames)

Observations are ``[frame_stack, screen_size, screen_size]`` uint8 (0..255);
:class:`~pipezero.envs.GymAdapter` hands them to the agent as float32 with the same values and
``BatchEnv.obs_storage_dtype`` tells collectors to store them as uint8. Conv models normalise
their input with BatchNorm after the first convolution, so no explicit ``/ 255`` is needed.

ale-py ships the game ROMs; install both with ``pip install "pipezero[atari]"``.

Episode life handling: with ``episode_life=True`` (training) a lost life is reported as
``terminated`` — the value target stops there, as in DQN, MuZero and EfficientZero — but the
next ``reset()`` only takes one no-op step and the game continues; the real reset happens at
game over. Evaluate with ``episode_life=False`` so returns are whole-game scores.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

#: Defaults of the Atari 100k protocol (Kaiser et al., 2020; used by EfficientZero, LightZero).
ATARI_100K = {
    "screen_size": 96,
    "frame_stack": 4,
    "frame_skip": 4,
    "noop_max": 30,
    "sticky_action_prob": 0.25,
    "full_action_space": False,
    "max_episode_frames": 108_000,  # 30 minutes of play at 60 fps
}


def is_atari_id(env_id: str) -> bool:
    """Whether ``env_id`` names an ALE game (``"ALE/Pong-v5"``, ``"PongNoFrameskip-v4"``)."""
    return env_id.startswith("ALE/") or env_id.endswith("NoFrameskip-v4")


def _import_ale() -> Any:
    try:
        import ale_py
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ImportError(
            "Atari environments need ale-py (it ships the ROMs) and opencv for resizing: "
            'pip install "pipezero[atari]"'
        ) from err
    gym.register_envs(ale_py)
    return ale_py


class EpisodicLife(gym.Wrapper):
    """End the episode when a life is lost, without resetting the game.

    ``step`` reports ``terminated=True`` when the lives counter drops (and lives remain);
    the following ``reset`` takes one no-op step (action 0) instead of restarting the game,
    so training episodes are lives while the emulator plays whole games. At game over
    ``reset`` resets for real. ``info["game_over"]`` says which kind of end a step was.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._lives = 0
        self._game_over = True

    def _ale_lives(self) -> int:
        return int(self.env.unwrapped.ale.lives())

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._game_over = bool(terminated or truncated)
        lives = self._ale_lives()
        if 0 < lives < self._lives:
            terminated = True
        self._lives = lives
        info["game_over"] = self._game_over
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        if self._game_over:
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:  # the no-op ended the game: restart it
                obs, info = self.env.reset(**kwargs)
        self._game_over = False
        self._lives = self._ale_lives()
        return obs, info


def make_atari_env(
    env_id: str = "ALE/Pong-v5",
    *,
    screen_size: int = ATARI_100K["screen_size"],
    frame_stack: int = ATARI_100K["frame_stack"],
    frame_skip: int = ATARI_100K["frame_skip"],
    noop_max: int = ATARI_100K["noop_max"],
    sticky_action_prob: float = ATARI_100K["sticky_action_prob"],
    full_action_space: bool = ATARI_100K["full_action_space"],
    max_episode_frames: int = ATARI_100K["max_episode_frames"],
    episode_life: bool = False,
    clip_rewards: bool = False,
    render_mode: str | None = None,
) -> gym.Env:
    """An ALE game with the standard preprocessing (see the module doc).

    Args:
        env_id: any ALE id, e.g. ``"ALE/Breakout-v5"`` or ``"BreakoutNoFrameskip-v4"``.
        screen_size: frames are resized to ``screen_size x screen_size`` (96 for MuZero,
            84 for DQN).
        frame_stack: frames per observation.
        frame_skip: emulator frames per agent step (max-pooled over the last two).
        noop_max: up to this many no-op actions after a reset (random start).
        sticky_action_prob: probability that the emulator repeats the previous action
            (``repeat_action_probability``; 0.25 in the Atari 100k protocol).
        full_action_space: all 18 actions instead of the game's minimal set.
        max_episode_frames: emulator frames after which the episode is truncated.
        episode_life: a lost life ends the episode (training only).
        clip_rewards: rewards become their sign (training only).
        render_mode: the emulator's ``render_mode`` (``"rgb_array"``: ``render()`` returns
            the full-size colour screen; ``pipezero render`` records it).

    Returns:
        A gymnasium environment with ``[frame_stack, screen_size, screen_size]`` uint8
        observations and a ``Discrete`` action space.
    """
    if not is_atari_id(env_id):
        raise ValueError(
            f"make_atari_env: {env_id!r} is not an ALE id; use e.g. 'ALE/Pong-v5' or "
            "'PongNoFrameskip-v4'"
        )
    for name, value, low in (
        ("screen_size", screen_size, 8),
        ("frame_stack", frame_stack, 1),
        ("frame_skip", frame_skip, 1),
        ("noop_max", noop_max, 0),
        ("max_episode_frames", max_episode_frames, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"make_atari_env: {name} must be an int >= {low}, got {value!r}")
    if not 0.0 <= sticky_action_prob <= 1.0:
        raise ValueError(
            f"make_atari_env: sticky_action_prob must be in [0, 1], got {sticky_action_prob!r}"
        )
    _import_ale()
    env = gym.make(
        env_id,
        frameskip=1,  # AtariPreprocessing skips frames (and max-pools the last two)
        repeat_action_probability=float(sticky_action_prob),
        full_action_space=bool(full_action_space),
        max_num_frames_per_episode=int(max_episode_frames),
        render_mode=render_mode,
    )
    env = gym.wrappers.AtariPreprocessing(
        env,
        noop_max=noop_max,
        frame_skip=frame_skip,
        screen_size=screen_size,
        terminal_on_life_loss=False,
        grayscale_obs=True,
        scale_obs=False,
    )
    if episode_life:
        env = EpisodicLife(env)
    if clip_rewards:
        env = gym.wrappers.TransformReward(env, lambda r: float(np.sign(r)))
    return gym.wrappers.FrameStackObservation(env, frame_stack)
