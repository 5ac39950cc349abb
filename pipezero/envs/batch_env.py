"""Step ``N`` environments together and return batched NumPy arrays.

:class:`BatchEnv` is a plain list-stepper over :class:`~pipezero.envs.gym_adapter.GymAdapter`
instances in the calling thread. For cheap environments it beats ``gymnasium.vector.
SyncVectorEnv`` (see ``docs/components.md`` for the measured figures): no info-dict merging
and no per-step space bookkeeping. Scale-out to heavy environments goes through more
collectors (Ray actors), not through subprocesses here.

Finished environments are reset *in the same step* (gymnasium's ``SAME_STEP`` autoreset):
``final_observation`` holds the observation the step reached, ``observation`` the one to
act from next, which is the first observation of a new episode where ``done`` is set.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from pipezero.envs.atari import is_atari_id
from pipezero.envs.gym_adapter import EpisodeStats, GymAdapter
from pipezero.envs.minatar import is_minatar_id
from pipezero.envs.snapshot import EnvSnapshotError

logger = logging.getLogger(__name__)


class EnvError(RuntimeError):
    """An environment of a :class:`BatchEnv` raised during ``reset`` or ``step``.

    The message names the environment index, its id, its construction seed and the step of
    its episode; the original exception is the ``__cause__``.

    Attributes:
        env_index: index of the failing environment in the batch.
        env_id: its gymnasium id.
        seed: the seed it was built with (``None``: unseeded).
        phase: ``"reset"`` or ``"step"``.
        episode_step: steps taken in its current episode before the failure.
    """

    def __init__(self, env_index: int, env: GymAdapter, phase: str, error: BaseException) -> None:
        self.env_index = env_index
        self.env_id = env.env_id
        self.seed = env.seed
        self.phase = phase
        self.episode_step = env.episode_length
        super().__init__(
            f"environment {env_index} ({env.env_id}, seed {env.seed}) failed in {phase} at "
            f"episode step {self.episode_step}: {type(error).__name__}: {error}"
        )


@dataclass
class BatchObs:
    """Observations of ``N`` environments.

    Attributes:
        observation: ``[N, *O]`` float32.
        action_mask: ``[N, A]`` bool.
        to_play: ``[N]`` int64 (``-1`` for single-player).
    """

    observation: np.ndarray
    action_mask: np.ndarray
    to_play: np.ndarray


@dataclass
class BatchStep:
    """Outcome of one :meth:`BatchEnv.step`.

    Attributes:
        obs: observations to act from next; for environments where ``done`` the first
            observation of their new episode.
        reward: ``[N]`` float32.
        terminated: ``[N]`` bool.
        truncated: ``[N]`` bool.
        final_observation: ``[N, *O]`` float32, the observation each step reached (equal to
            ``obs.observation`` where not ``done``, and the same array when no episode
            ended); bootstrap truncated episodes from it.
        final_to_play: ``[N]`` int64, ``to_play`` at ``final_observation``.
        episodes: ``(env_index, stats)`` for every episode that ended in this step.
        infos: the per-environment ``info`` dicts of this step.
    """

    obs: BatchObs
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_observation: np.ndarray
    final_to_play: np.ndarray
    episodes: list[tuple[int, EpisodeStats]] = field(default_factory=list)
    infos: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> np.ndarray:
        """``[N]`` bool, ``terminated | truncated``."""
        return self.terminated | self.truncated


class BatchEnv:
    """``N`` :class:`GymAdapter` environments stepped in lockstep with automatic reset.

    Args:
        envs: the adapters (all with the same observation shape, action count and action
            shape), or callables that build them.

    Use :meth:`make` to build ``N`` copies of one gymnasium id with seeds ``seed + i``.

    Example:
        >>> envs = BatchEnv.make("CartPole-v1", num_envs=8, seed=0)
        >>> obs = envs.reset()                      # obs.observation: [8, 4]
        >>> step = envs.step(np.zeros(8, dtype=np.int64))
    """

    def __init__(self, envs: Sequence[GymAdapter | Callable[[], GymAdapter]]) -> None:
        if len(envs) == 0:
            raise ValueError("BatchEnv needs at least one environment, got an empty sequence")
        self.envs: list[GymAdapter] = [e if isinstance(e, GymAdapter) else e() for e in envs]
        first = self.envs[0]
        for i, env in enumerate(self.envs):
            if (env.observation_shape, env.action_space_size, env.action_shape) != (
                first.observation_shape,
                first.action_space_size,
                first.action_shape,
            ):
                raise ValueError(
                    f"environment {i} ({env}) differs from environment 0 ({first}); "
                    "all environments of a BatchEnv need the same observation shape, "
                    "action count and action shape"
                )
        self.num_envs = len(self.envs)
        self.observation_shape = first.observation_shape
        self.action_space_size = first.action_space_size
        #: ``()`` for discrete actions, ``(D,)`` for continuous ones (see GymAdapter)
        self.action_shape = first.action_shape
        self.action_dim = first.action_dim  # D of continuous actions, 0 for discrete ones
        self.continuous = first.continuous
        spaces = [env.env.observation_space for env in self.envs]
        frames = all(isinstance(s, gym.spaces.Box) and s.dtype == np.uint8 for s in spaces)
        #: dtype in which collectors store observations: ``uint8`` when every environment
        #: gives uint8 ``Box`` observations (image frames: lossless, 4x smaller), else float32
        self.obs_storage_dtype = np.dtype(np.uint8 if frames else np.float32)
        self._started = False

    @classmethod
    def make(
        cls,
        env_id: str | Callable[..., gym.Env],
        num_envs: int,
        seed: int | None = None,
        **make_kwargs: Any,
    ) -> BatchEnv:
        """Build ``num_envs`` adapters of ``env_id``; environment ``i`` is seeded ``seed + i``.

        ``env_id`` is a gymnasium id, an ALE id (``"ALE/Pong-v5"``: built by
        :func:`pipezero.envs.atari.make_atari_env`, which takes ``make_kwargs``), a MinAtar id
        (``"MinAtar/Breakout-v1"``: :func:`pipezero.envs.minatar.make_minatar_env`), or a factory
        ``env_id(**make_kwargs) -> gymnasium.Env`` called once per environment.
        """
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs!r}")
        factory: Callable[..., gym.Env] | None = None
        if callable(env_id):
            factory = env_id
        elif is_atari_id(env_id):
            from pipezero.envs.atari import make_atari_env

            factory = functools.partial(make_atari_env, env_id)
        elif is_minatar_id(env_id):
            from pipezero.envs.minatar import make_minatar_env

            factory = functools.partial(make_minatar_env, env_id)
        adapters = []
        for i in range(num_envs):
            env_seed = None if seed is None else seed + i
            if factory is None:
                adapters.append(GymAdapter(env_id, seed=env_seed, **make_kwargs))
            else:
                adapters.append(GymAdapter(factory(**make_kwargs), seed=env_seed))
        return cls(adapters)

    def _new_obs(self) -> BatchObs:
        n = self.num_envs
        return BatchObs(
            observation=np.empty((n, *self.observation_shape), dtype=np.float32),
            action_mask=np.ones((n, self.action_space_size), dtype=bool),
            to_play=np.empty(n, dtype=np.int64),
        )

    def reset(self) -> BatchObs:
        """Reset every environment and return the stacked first observations."""
        obs = self._new_obs()
        for i, env in enumerate(self.envs):
            try:
                obs.to_play[i] = env.reset_into(obs.observation[i], obs.action_mask[i])
            except Exception as err:
                raise EnvError(i, env, "reset", err) from err
        self._started = True
        return obs

    def step(self, actions: np.ndarray | Sequence[int]) -> BatchStep:
        """Step every environment with its action; finished ones are reset at once.

        Args:
            actions: ``[N]`` action indices, or ``[N, D]`` continuous actions in ``[-1, 1]``
                (each environment rescales them to its bounds).

        Returns:
            A :class:`BatchStep` of freshly allocated arrays (safe to keep).
        """
        if not self._started:
            raise RuntimeError("BatchEnv.step() called before reset(); call reset() first")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs, *self.action_shape):
            raise ValueError(
                f"expected {self.num_envs} actions (one per environment) of shape "
                f"{list(self.action_shape)}, got an array of shape {actions.shape}"
            )
        n = self.num_envs
        obs = self._new_obs()
        reward = np.empty(n, dtype=np.float32)
        terminated = np.empty(n, dtype=bool)
        truncated = np.empty(n, dtype=bool)
        episodes: list[tuple[int, EpisodeStats]] = []
        infos: list[dict[str, Any]] = []
        per_env = actions if self.continuous else actions.tolist()
        for i, (env, action) in enumerate(zip(self.envs, per_env, strict=True)):
            try:
                reward[i], terminated[i], truncated[i], obs.to_play[i], info, episode = (
                    env.step_into(action, obs.observation[i], obs.action_mask[i])
                )
            except Exception as err:
                raise EnvError(i, env, "step", err) from err
            infos.append(info)
            if episode is not None:
                episodes.append((i, episode))
        final_observation = obs.observation
        final_to_play = obs.to_play
        if episodes:  # keep the reached observations, then reset the finished environments
            final_observation = obs.observation.copy()
            final_to_play = obs.to_play.copy()
            for i, _ in episodes:
                obs.action_mask[i] = True
                try:
                    obs.to_play[i] = self.envs[i].reset_into(obs.observation[i], obs.action_mask[i])
                except Exception as err:
                    raise EnvError(i, self.envs[i], "reset", err) from err
        return BatchStep(
            obs=obs,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            final_observation=final_observation,
            final_to_play=final_to_play,
            episodes=episodes,
            infos=infos,
        )

    # -- snapshots ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Snapshots of the running environments (see :meth:`GymAdapter.state_dict`).

        Returns:
            ``{"envs": [snapshot or None], "reasons": [None or why not], "started": bool}``;
            an environment that cannot be snapshotted (an Atari emulator, a physics engine)
            has ``None`` and the reason.
        """
        snapshots: list[dict[str, Any] | None] = []
        reasons: list[str | None] = []
        for env in self.envs:
            try:
                snapshots.append(env.state_dict())
                reasons.append(None)
            except Exception as err:  # a snapshot that fails must never stop a checkpoint
                snapshots.append(None)
                reasons.append(str(err) if isinstance(err, EnvSnapshotError) else repr(err))
        return {"envs": snapshots, "reasons": reasons, "started": self._started}

    def load_state_dict(self, state: dict[str, Any]) -> np.ndarray:
        """Continue the environments of :meth:`state_dict` where it holds a snapshot.

        Returns:
            ``[N]`` bool, ``True`` for each environment that continues its episode. The
            others (no snapshot, a snapshot that does not fit, another environment count)
            must be started again with :meth:`reset_envs` (or :meth:`reset`).
        """
        restored = np.zeros(self.num_envs, dtype=bool)
        snapshots = state["envs"]
        if not state["started"] or len(snapshots) != self.num_envs:
            return restored
        if not self._started:
            self.reset()  # builds what environments make on their first reset (a board bot)
        for i, (env, snapshot) in enumerate(zip(self.envs, snapshots, strict=True)):
            if snapshot is None:
                continue
            try:
                env.load_state_dict(snapshot)
                restored[i] = True
            except EnvSnapshotError as err:
                logger.warning("environment %d (%s) cannot continue its episode: %s", i, env, err)
        self._started = bool(restored.all())
        return restored

    def reset_envs(self, indices: Sequence[int] | np.ndarray, into: BatchObs) -> None:
        """Start a new episode in the environments ``indices`` only, writing their first
        observations into those rows of ``into``; the other environments go on. Afterwards
        the batch counts as started (every environment must be running)."""
        for i in np.asarray(indices, dtype=np.int64).tolist():
            into.action_mask[i] = True
            try:
                into.to_play[i] = self.envs[i].reset_into(into.observation[i], into.action_mask[i])
            except Exception as err:
                raise EnvError(i, self.envs[i], "reset", err) from err
        self._started = True

    def close(self) -> None:
        """Close every environment."""
        for env in self.envs:
            env.close()

    def __len__(self) -> int:
        return self.num_envs
