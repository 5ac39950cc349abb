"""Several environments as one batch: padded to a common observation shape and action set.

A multi-task run trains one network on several games. :class:`MultiTaskEnv` is a
:class:`~pipezero.envs.BatchEnv` over the environments of every task, task by task (the first
``n`` environments play task 0, the next ``n`` task 1, ...), so one collector searches all of
them in one batch and one evaluator plays them all. Its :attr:`MultiTaskEnv.task_ids` (``[N]``)
tell the segment writers which task each environment plays
(:meth:`~pipezero.data.GameSegmentWriter.for_envs`), and the evaluator reports per task.

**Padding rules** (:class:`PadSpaces`), so that every task has the same spaces:

- *Observations*: every dimension is padded with zeros *at its end* up to the largest size
  across the tasks; all tasks need observations of the same rank. MinAtar's ``[C, 10, 10]``
  grids become ``[C_max, 10, 10]``: a game's own channels first, then all-zero channels
  (Breakout 4, Asterix 4, SpaceInvaders 6, Freeway 7, Seaquest 10 channels; Breakout with
  Freeway gives 7 channels).
- *Actions*: the discrete action set becomes ``range(A_max)``; actions ``A_k .. A_max - 1`` of
  a task with ``A_k`` actions are masked out (``info["action_mask"]``, which the search
  honours at every node) and raise if played. MinAtar's ``-v0`` ids have the same 6 actions in
  every game, so they need no action padding; its ``-v1`` ids (minimal sets of 3 to 6) do.
  Continuous action spaces are not supported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from pipezero.envs.batch_env import BatchEnv
from pipezero.envs.gym_adapter import GymAdapter

__all__ = ["MultiTaskEnv", "PadSpaces", "task_name"]


def task_name(env_id: str) -> str:
    """A short name for a task's environment id, used in logs and evaluation results:
    ``"MinAtar/Breakout-v0"`` -> ``"Breakout"``, ``"CartPole-v1"`` -> ``"CartPole"``."""
    return env_id.rsplit("/", 1)[-1].rsplit("-v", 1)[0]


class PadSpaces(gym.Wrapper):
    """Pad an environment's observations with zeros to ``observation_shape`` and its discrete
    action set to ``num_actions`` actions, the added ones masked out (see the module doc).

    Args:
        env: a ``Box`` observation and ``Discrete`` action environment.
        observation_shape: the padded shape; same rank, no dimension smaller than the env's.
        num_actions: the padded action count, ``>=`` the env's.
    """

    def __init__(self, env: gym.Env, observation_shape: Sequence[int], num_actions: int) -> None:
        super().__init__(env)
        space, actions = env.observation_space, env.action_space
        shape = tuple(int(d) for d in observation_shape)
        if not isinstance(space, gym.spaces.Box) or not isinstance(actions, gym.spaces.Discrete):
            raise ValueError(
                f"PadSpaces pads Box observations and Discrete actions; {env} has "
                f"{space} and {actions}"
            )
        if len(shape) != len(space.shape) or any(
            d < s for d, s in zip(shape, space.shape, strict=True)
        ):
            raise ValueError(
                f"PadSpaces: cannot pad observations of shape {space.shape} to {shape}; "
                f"every task needs observations of the same rank, none larger than the target"
            )
        if num_actions < actions.n or int(actions.start) != 0:
            raise ValueError(
                f"PadSpaces: cannot pad {actions} to {num_actions} actions (need start 0 "
                f"and no more than {num_actions} actions)"
            )
        self.own_actions = int(actions.n)
        self.pad_width = tuple((0, d - s) for d, s in zip(shape, space.shape, strict=True))
        low = np.pad(np.broadcast_to(space.low, space.shape), self.pad_width)
        high = np.pad(np.broadcast_to(space.high, space.shape), self.pad_width)
        self.observation_space = gym.spaces.Box(low, high, shape=shape, dtype=space.dtype)
        self.action_space = gym.spaces.Discrete(int(num_actions))

    def _pad(self, obs: Any, info: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        own = info.get("action_mask")
        mask = np.zeros(self.action_space.n, dtype=bool)
        mask[: self.own_actions] = True if own is None else np.asarray(own, dtype=bool)
        return np.pad(np.asarray(obs), self.pad_width), info | {"action_mask": mask}

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return self._pad(obs, info)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not 0 <= int(action) < self.own_actions:
            name = self.env.spec.id if self.env.spec is not None else self.env
            raise ValueError(
                f"action {int(action)} is padding for {name} ({self.own_actions} actions); "
                f"the action mask rules it out"
            )
        obs, reward, terminated, truncated, info = self.env.step(action)
        obs, info = self._pad(obs, info)
        return obs, reward, terminated, truncated, info


class MultiTaskEnv(BatchEnv):
    """One :class:`BatchEnv` over the environments of several tasks, padded alike.

    Args:
        tasks: one sequence of adapters (or factories) per task; they are padded with
            :class:`PadSpaces` to the largest observation shape and action count.
        names: one name per task (default ``task_0``, ``task_1``, ...).

    Attributes:
        task_ids: ``[N]`` int64, the task of each environment (``0 .. T - 1``).
        task_names: the tasks' names, indexed by task id.

    Use :meth:`make` to build ``num_envs`` environments of each of several ids.
    """

    def __init__(self, tasks: Sequence[Sequence[Any]], names: Sequence[str] | None = None) -> None:
        if not tasks or any(len(envs) == 0 for envs in tasks):
            raise ValueError("MultiTaskEnv needs at least one environment for every task")
        names = [f"task_{k}" for k in range(len(tasks))] if names is None else list(names)
        if len(names) != len(tasks) or len(set(names)) != len(names):
            raise ValueError(f"MultiTaskEnv needs one distinct name per task, got {names}")
        built = [[e if isinstance(e, GymAdapter) else e() for e in envs] for envs in tasks]
        first = [envs[0] for envs in built]
        if any(env.continuous for env in first):
            raise ValueError("MultiTaskEnv pads discrete action sets; a task has continuous ones")
        ranks = {len(env.observation_shape) for env in first}
        if len(ranks) != 1:
            shapes = {name: env.observation_shape for name, env in zip(names, first, strict=True)}
            raise ValueError(f"MultiTaskEnv: observations of different ranks {shapes}")
        shape = tuple(np.max([env.observation_shape for env in first], axis=0).tolist())
        actions = max(env.action_space_size for env in first)
        padded = [
            GymAdapter(PadSpaces(env.env, shape, actions), seed=env.seed)
            for envs in built
            for env in envs
        ]
        super().__init__(padded)
        self.task_ids = np.repeat(np.arange(len(built)), [len(envs) for envs in built])
        self.task_names = tuple(names)

    @classmethod
    def make(  # type: ignore[override]
        cls,
        env_ids: Sequence[str],
        num_envs: int,
        seed: int | None = None,
        **make_kwargs: Any,
    ) -> MultiTaskEnv:
        """``num_envs`` environments of each id in ``env_ids`` (any :meth:`BatchEnv.make` id),
        environment ``i`` of every task seeded ``seed + i`` (as in its single-task run);
        ``make_kwargs`` go to every environment. Tasks are named by :func:`task_name`."""
        if isinstance(env_ids, str) or not env_ids:
            raise ValueError(f"MultiTaskEnv.make needs a list of environment ids, got {env_ids!r}")
        tasks = [BatchEnv.make(env_id, num_envs, seed, **make_kwargs).envs for env_id in env_ids]
        return cls(tasks, names=[task_name(env_id) for env_id in env_ids])
