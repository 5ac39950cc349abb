"""One adapter for any gymnasium environment with a discrete or a bounded continuous action space.

:class:`GymAdapter` turns a gymnasium ``Env`` (or an id for ``gymnasium.make``) into what the
MuZero-family collectors expect at every step: a ``float32`` observation, a boolean legal-action
mask and ``to_play`` (``-1``: single-player). It also keeps the running episode return and
length, and reports them once an episode ends.

Supported spaces:

- observations: ``Box`` (any shape, cast to ``float32``), ``Discrete`` (one-hot ``float32``
  of length ``n``) and ``MultiBinary`` (cast to ``float32``);
- actions: ``Discrete`` (with any ``start``; the adapter always takes indices ``0 .. n-1``),
  and bounded ``Box`` (continuous control): the adapter takes actions in ``[-1, 1]^D``, clips
  them there and rescales them linearly to the space's ``[low, high]`` (Pendulum-v1's torque
  ``[-2, 2]``). A ``Box`` action space has no discrete actions to mask: ``action_space_size``
  is 0 and the masks are empty (``[0]``); ``action_shape`` is ``(D,)``.

Environments that put ``"action_mask"`` / ``"to_play"`` in ``info`` get those; all others get
an all-ones mask and ``to_play = -1``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from pipezero.envs.snapshot import capture_state, restore_state

SUPPORTED_OBSERVATION_SPACES = ("Box", "Discrete", "MultiBinary")
SUPPORTED_ACTION_SPACES = ("Discrete", "Box")


@dataclass
class EnvObs:
    """What the agent sees before acting.

    Attributes:
        observation: ``[*O]`` float32.
        action_mask: ``[A]`` bool, ``True`` for legal actions.
        to_play: the player to move; ``-1`` for single-player environments.
    """

    observation: np.ndarray
    action_mask: np.ndarray
    to_play: int = -1


@dataclass
class EpisodeStats:
    """Statistics of one finished episode.

    Attributes:
        episode_return: undiscounted sum of rewards.
        length: number of steps.
        terminated: ``True`` if the episode reached a terminal state, ``False`` if it was
            truncated (time limit).
    """

    episode_return: float
    length: int
    terminated: bool


@dataclass
class StepResult:
    """Outcome of one :meth:`GymAdapter.step`.

    Attributes:
        obs: the observation reached (the final one if the episode ended).
        reward: reward of the transition.
        terminated: the episode reached a terminal state (its value is zero).
        truncated: the episode was cut short (e.g. time limit); ``obs`` is not terminal.
        info: the environment's ``info`` dict.
        episode: set on the step that ends an episode, ``None`` otherwise.
    """

    obs: EnvObs
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any] = field(default_factory=dict)
    episode: EpisodeStats | None = None

    @property
    def done(self) -> bool:
        """``terminated or truncated``."""
        return self.terminated or self.truncated


def _space_name(space: gym.Space) -> str:
    return type(space).__name__


_MADE_IDS: set[str] = set()


def _make(env_id: str, **make_kwargs: Any) -> gym.Env:
    """``gym.make``, with gymnasium's "environment is out of date" notice (CartPole-v0 and
    other old versions) shown for the first environment of an id only, not once per copy."""
    if env_id not in _MADE_IDS:
        _MADE_IDS.add(env_id)
        return gym.make(env_id, **make_kwargs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is out of date.*")
        return gym.make(env_id, **make_kwargs)


class GymAdapter:
    """Wrap a gymnasium environment for MuZero-family collection.

    Args:
        env: a gymnasium id (``"CartPole-v1"``) or an ``Env`` instance (wrappers included).
        seed: seed of the first :meth:`reset` (later resets continue the environment's own
            random stream, as in gymnasium); also seeds the action space. ``None``: unseeded.
        **make_kwargs: passed to ``gymnasium.make`` when ``env`` is an id.

    Raises:
        ValueError: the observation or action space is not supported; the message names the
            space and lists the supported ones.

    Example:
        >>> env = GymAdapter("CartPole-v1", seed=0)
        >>> obs = env.reset()  # EnvObs(observation=[4] float32, action_mask=[2] bool, -1)
        >>> result = env.step(1)
    """

    def __init__(self, env: str | gym.Env, seed: int | None = None, **make_kwargs: Any) -> None:
        if isinstance(env, str):
            self.env: gym.Env = _make(env, **make_kwargs)
        elif make_kwargs:
            raise ValueError(
                f"make_kwargs {sorted(make_kwargs)} were given with an Env instance; pass "
                "them only together with an environment id"
            )
        else:
            self.env = env
        self.env_id = self.env.spec.id if self.env.spec is not None else type(self.env).__name__
        self.seed = seed  #: the seed given at construction (kept for error messages)
        self._seed = seed
        self._obs_space = self.env.observation_space
        self._act_space = self.env.action_space
        self._check_spaces()
        #: ``True`` for a ``Box`` action space (actions are ``[D]`` float vectors in [-1, 1]).
        self.continuous = isinstance(self._act_space, gym.spaces.Box)
        if self.continuous:
            #: discrete actions (masks are ``[A]``); 0 for continuous actions
            self.action_space_size: int = 0
            #: shape of one action: ``()`` for an index, ``(D,)`` for a continuous vector
            self.action_shape: tuple[int, ...] = (int(self._act_space.shape[0]),)
            #: ``D`` of continuous actions; 0 for discrete ones
            self.action_dim = self.action_shape[0]
            #: ``[D]`` float64 bounds the actions in ``[-1, 1]`` are rescaled to
            self.action_low = np.asarray(self._act_space.low, dtype=np.float64)
            self.action_high = np.asarray(self._act_space.high, dtype=np.float64)
            self._action_start = 0
        else:
            self.action_space_size = int(self._act_space.n)
            self.action_shape = ()
            self.action_dim = 0
            self.action_low = self.action_high = None
            self._action_start = int(self._act_space.start)
        self._one_hot_obs = isinstance(self._obs_space, gym.spaces.Discrete)
        if self._one_hot_obs:
            self.observation_shape: tuple[int, ...] = (int(self._obs_space.n),)
        else:
            self.observation_shape = tuple(int(d) for d in self._obs_space.shape)
        self._episode_return = 0.0
        self._episode_length = 0
        self._needs_reset = True

    def _check_spaces(self) -> None:
        act = self._act_space
        if not isinstance(act, gym.spaces.Discrete | gym.spaces.Box):
            raise ValueError(
                f"{self.env_id}: action space {act} ({_space_name(act)})"
                f" is not supported; GymAdapter supports {SUPPORTED_ACTION_SPACES}. "
                "Flatten or discretise the actions with a gymnasium ActionWrapper first"
            )
        if isinstance(act, gym.spaces.Box):
            if len(act.shape) != 1:
                raise ValueError(
                    f"{self.env_id}: Box action space of shape {act.shape} is not supported; "
                    "GymAdapter takes one-dimensional Box actions [D]. Flatten the action "
                    "space with a gymnasium ActionWrapper first"
                )
            if not (np.isfinite(act.low).all() and np.isfinite(act.high).all()):
                raise ValueError(
                    f"{self.env_id}: Box action space {act} is unbounded; GymAdapter rescales "
                    "actions in [-1, 1] to the bounds, so they must be finite. Wrap the "
                    "environment in gymnasium.wrappers.ClipAction or RescaleAction first"
                )
        if not isinstance(
            self._obs_space, gym.spaces.Box | gym.spaces.Discrete | gym.spaces.MultiBinary
        ):
            raise ValueError(
                f"{self.env_id}: observation space {self._obs_space} "
                f"({_space_name(self._obs_space)}) is not supported; GymAdapter supports "
                f"{SUPPORTED_OBSERVATION_SPACES}. Flatten Dict/Tuple observations with "
                "gymnasium.wrappers.FlattenObservation first"
            )

    def _write_obs(self, raw: Any, out: np.ndarray) -> None:
        """Write the float32 form of a raw observation into ``out`` (``[*O]``)."""
        if self._one_hot_obs:
            out[:] = 0.0
            out[int(raw) - int(self._obs_space.start)] = 1.0
        else:
            out[...] = raw

    @staticmethod
    def _read_info(info: dict[str, Any], mask_out: np.ndarray) -> int:
        """Copy ``info["action_mask"]`` into ``mask_out`` (preset to all ``True``) if present;
        return ``info["to_play"]`` or ``-1``."""
        mask = info.get("action_mask")
        if mask is not None:
            mask_out[:] = np.asarray(mask, dtype=bool)
        return int(info.get("to_play", -1))

    def reset_into(self, obs_out: np.ndarray, mask_out: np.ndarray, seed: int | None = None) -> int:
        """Start a new episode, writing into preallocated arrays (used by batched stepping).

        Args:
            obs_out: ``[*O]`` float32 destination of the first observation.
            mask_out: ``[A]`` bool destination of the action mask, preset to all ``True``.
            seed: as in :meth:`reset`.

        Returns:
            ``to_play``.
        """
        if seed is None and self._seed is not None:
            seed, self._seed = self._seed, None
            self._act_space.seed(seed)
        raw, info = self.env.reset(seed=seed)
        self._episode_return = 0.0
        self._episode_length = 0
        self._needs_reset = False
        self._write_obs(raw, obs_out)
        return self._read_info(info, mask_out)

    def env_action(self, action: Any) -> Any:
        """The action handed to the wrapped environment for an adapter action.

        Discrete: index ``a`` in ``[0, A)`` -> ``a + start``. Continuous: ``[D]`` values
        clipped to ``[-1, 1]`` and rescaled to ``low + (a + 1) / 2 * (high - low)``, in the
        space's dtype.

        Raises:
            ValueError: an index out of range, or a continuous action of the wrong shape or
                not finite.
        """
        if not self.continuous:
            if not 0 <= action < self.action_space_size:
                raise ValueError(
                    f"{self.env_id}: action {action} is out of range; expected an index in "
                    f"[0, {self.action_space_size})"
                )
            return action + self._action_start
        vec = np.asarray(action, dtype=np.float64)
        if vec.shape != self.action_shape or not np.isfinite(vec).all():
            raise ValueError(
                f"{self.env_id}: continuous action must be a finite vector of shape "
                f"{list(self.action_shape)} in [-1, 1], got {vec!r}"
            )
        unit = np.clip(vec, -1.0, 1.0)
        scaled = self.action_low + (unit + 1.0) * 0.5 * (self.action_high - self.action_low)
        return scaled.astype(self._act_space.dtype)

    def step_into(
        self, action: Any, obs_out: np.ndarray, mask_out: np.ndarray
    ) -> tuple[float, bool, bool, int, dict[str, Any], EpisodeStats | None]:
        """Take ``action``, writing the observation reached into ``obs_out``.

        Args:
            action: index in ``[0, A)``, or a ``[D]`` vector in ``[-1, 1]`` for a ``Box``
                action space (see :meth:`env_action`).
            obs_out: ``[*O]`` float32 destination.
            mask_out: ``[A]`` bool destination, preset to all ``True``.

        Returns:
            ``(reward, terminated, truncated, to_play, info, episode)``; ``episode`` is set
            on the step that ends an episode.

        Raises:
            RuntimeError: called before :meth:`reset` or after the episode ended.
            ValueError: ``action`` is out of range (see :meth:`env_action`).
        """
        if self._needs_reset:
            raise RuntimeError(
                f"{self.env_id}: step() called before reset() or after the episode ended; "
                "call reset() to start an episode"
            )
        raw, reward, terminated, truncated, info = self.env.step(self.env_action(action))
        reward = float(reward)
        self._episode_return += reward
        self._episode_length += 1
        self._write_obs(raw, obs_out)
        to_play = self._read_info(info, mask_out)
        episode = None
        if terminated or truncated:
            self._needs_reset = True
            episode = EpisodeStats(self._episode_return, self._episode_length, bool(terminated))
        return reward, bool(terminated), bool(truncated), to_play, info, episode

    # -- snapshots ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The running state of this environment as plain data (see
        :mod:`pipezero.envs.snapshot`): the wrapped environment's objects and generators, and
        the adapter's episode counters. Restore it with :meth:`load_state_dict` into an
        adapter built the same way (same id, options and wrappers).

        Raises:
            EnvSnapshotError: the environment cannot be snapshotted (the message names the
                object, e.g. a physics engine); such environments restart their episodes.
        """
        return {
            "env": capture_state(self.env),
            "episode_return": self._episode_return,
            "episode_length": self._episode_length,
            "needs_reset": self._needs_reset,
            "pending_seed": self._seed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the environment captured by :meth:`state_dict`.

        Raises:
            EnvSnapshotError: the snapshot does not fit this environment (another id or
                other wrappers); reset the environment before using it then.
        """
        restore_state(self.env, state["env"])
        self._episode_return = float(state["episode_return"])
        self._episode_length = int(state["episode_length"])
        self._needs_reset = bool(state["needs_reset"])
        self._seed = state["pending_seed"]

    @property
    def episode_length(self) -> int:
        """Steps taken in the current (or just finished) episode."""
        return self._episode_length

    def _new_buffers(self) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.empty(self.observation_shape, dtype=np.float32),
            np.ones(self.action_space_size, dtype=bool),
        )

    def reset(self, seed: int | None = None) -> EnvObs:
        """Start a new episode.

        Args:
            seed: reseed the environment; ``None`` uses the constructor's seed on the first
                reset and continues the random stream afterwards.
        """
        obs, mask = self._new_buffers()
        to_play = self.reset_into(obs, mask, seed)
        return EnvObs(observation=obs, action_mask=mask, to_play=to_play)

    def step(self, action: Any) -> StepResult:
        """Take action index ``action`` in ``[0, A)`` (or a ``[D]`` vector in ``[-1, 1]`` for
        continuous actions); see :meth:`step_into` for errors."""
        obs, mask = self._new_buffers()
        reward, terminated, truncated, to_play, info, episode = self.step_into(
            action if self.continuous else int(action), obs, mask
        )
        return StepResult(
            obs=EnvObs(observation=obs, action_mask=mask, to_play=to_play),
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            info=info,
            episode=episode,
        )

    def close(self) -> None:
        """Close the underlying environment."""
        self.env.close()

    def __repr__(self) -> str:
        actions = (
            f"action_shape={self.action_shape}"
            if self.continuous
            else f"action_space_size={self.action_space_size}"
        )
        return f"GymAdapter({self.env_id!r}, observation_shape={self.observation_shape}, {actions})"
