"""GameSegmentWriter: cut one environment's stream of transitions into finished segments.

See :mod:`pipezero.data.game_segment` for the segment layout and its padding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipezero.data.game_segment import ARRAY_FIELDS, GameSegment


class GameSegmentWriter:
    """Cut one environment's stream of transitions into padded, finished segments.

    Keep one writer per environment. Call :meth:`append` for every transition and
    :meth:`end_episode` when the episode ends; :meth:`pop_finished` returns the segments that
    are complete (full and padded, or ending the episode), oldest first. A full segment waits
    until the next one holds ``P`` transitions (or the episode ends) to be padded.

    Args:
        observation_shape, action_space_size, game_segment_length, num_unroll_steps,
        td_steps, obs_dtype, action_shape, num_sampled_actions, task_id: as for
        :class:`GameSegment` (every segment of the writer gets ``task_id``).
    """

    def __init__(
        self,
        observation_shape: Sequence[int],
        action_space_size: int,
        game_segment_length: int,
        num_unroll_steps: int,
        td_steps: int,
        obs_dtype: np.dtype | type = np.float32,
        action_shape: Sequence[int] = (),
        num_sampled_actions: int = 0,
        task_id: int = 0,
    ) -> None:
        self._kwargs = dict(
            observation_shape=observation_shape,
            action_space_size=action_space_size,
            game_segment_length=game_segment_length,
            num_unroll_steps=num_unroll_steps,
            td_steps=td_steps,
            obs_dtype=obs_dtype,
            action_shape=action_shape,
            num_sampled_actions=num_sampled_actions,
            task_id=task_id,
        )
        GameSegment(**self._kwargs)  # validate the arguments now, not at the first append
        self._current: GameSegment | None = None
        self._pending: GameSegment | None = None  # full, waiting for its padding
        self._finished: list[GameSegment] = []

    @classmethod
    def for_envs(cls, cfg: Any, envs: Any) -> list[GameSegmentWriter]:
        """One writer per environment of ``envs`` (a :class:`~pipezero.envs.BatchEnv`) with
        the policy section ``cfg``: ``game_segment_length``, ``num_unroll_steps``,
        ``td_steps`` and, with ``sampled_algo=True``, ``num_of_sampled_actions`` (the
        segments then store the root's sampled actions). Environments with ``task_ids``
        (``[N]``, a multi-task :class:`~pipezero.envs.multitask.MultiTaskEnv`) give writer
        ``i`` the task id ``task_ids[i]``; otherwise every writer has task 0."""
        sampled = int(cfg["num_of_sampled_actions"]) if cfg.get("sampled_algo", False) else 0
        task_ids = getattr(envs, "task_ids", None)
        return [
            cls(
                observation_shape=envs.observation_shape,
                action_space_size=envs.action_space_size,
                game_segment_length=int(cfg["game_segment_length"]),
                num_unroll_steps=int(cfg["num_unroll_steps"]),
                td_steps=int(cfg["td_steps"]),
                action_shape=getattr(envs, "action_shape", ()),
                num_sampled_actions=sampled,
                obs_dtype=getattr(envs, "obs_storage_dtype", np.float32),
                task_id=0 if task_ids is None else int(task_ids[i]),
            )
            for i in range(envs.num_envs)
        ]

    def append(
        self,
        obs: np.ndarray,
        action_mask: np.ndarray,
        to_play: int,
        action: int | np.ndarray,
        reward: float,
        child_visits: np.ndarray,
        root_value: float,
        pred_value: float = math.nan,
        root_sampled_actions: np.ndarray | None = None,
    ) -> None:
        """Record one transition; arguments as in :meth:`GameSegment.append`."""
        if self._current is None:
            self._current = GameSegment(**self._kwargs)
        elif self._current.is_full:
            self._pending, self._current = self._current, GameSegment(**self._kwargs)
        cur = self._current
        cur.append(
            obs,
            action_mask,
            to_play,
            action,
            reward,
            child_visits,
            root_value,
            pred_value,
            root_sampled_actions,
        )
        if self._pending is not None and cur.length >= cur.padding_length:
            self._pending.pad_from(cur)
            self._finished.append(self._pending.finish())
            self._pending = None

    def end_episode(self, final_obs: np.ndarray, terminated: bool, final_to_play: int = -1) -> None:
        """End the episode; arguments as in :meth:`GameSegment.end_episode`."""
        cur = self._current
        if cur is None:
            raise RuntimeError("GameSegmentWriter.end_episode() before any append()")
        cur.end_episode(final_obs, terminated, final_to_play)
        if self._pending is not None:
            self._pending.pad_from(cur)
            self._finished.append(self._pending.finish())
            self._pending = None
        self._finished.append(cur.finish())
        self._current = None

    def pop_finished(self) -> list[GameSegment]:
        """Return and forget the finished segments, oldest first."""
        out, self._finished = self._finished, []
        return out

    @property
    def in_episode(self) -> bool:
        """Whether an episode is under way: transitions were appended since the last
        :meth:`end_episode` (or since the start)."""
        return self._current is not None

    # -- resuming ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """What this writer holds, as plain data with NumPy arrays: the segment being
        filled, the full one waiting for its padding, and finished segments not popped yet
        (each trimmed to its used positions). :meth:`load_state_dict` continues from it."""
        return {
            "current": segment_state(self._current),
            "pending": segment_state(self._pending),
            "finished": [segment_state(seg) for seg in self._finished],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (of a writer built with the same parameters).

        Raises:
            ValueError: the saved segments have another layout (observation shape, action
                count, segment length...) than this writer's.
        """
        current = self.segment_from_state(state["current"])
        pending = self.segment_from_state(state["pending"])
        finished = [self.segment_from_state(s) for s in state["finished"]]
        self._current, self._pending, self._finished = current, pending, finished

    def segment_from_state(self, state: dict[str, Any] | None) -> GameSegment | None:
        """A segment saved by :func:`segment_state`, rebuilt with this writer's parameters
        (finished or still open); ``None`` for ``None``.

        Raises:
            ValueError: the saved segment has another layout than this writer's.
        """
        if state is None:
            return None
        kw = self._kwargs
        arrays = {name: np.asarray(state["arrays"][name]) for name in ARRAY_FIELDS}
        layout = [state[k] for k in ("length", "num_padding", "episode_end", "terminated")]
        if state["finished"]:
            seg = GameSegment.from_arrays(
                arrays,
                kw["game_segment_length"],
                kw["num_unroll_steps"],
                kw["td_steps"],
                *layout,
                task_id=int(state.get("task_id", kw["task_id"])),
            )
        else:
            seg = GameSegment(**kw)
            rows = len(arrays["obs"])
            for name in ARRAY_FIELDS:
                target = getattr(seg, name)
                if arrays[name].shape[1:] != target.shape[1:] or rows > len(target):
                    raise ValueError(
                        f"saved game segment field {name!r} has shape {arrays[name].shape}, "
                        f"this writer's segments hold {target.shape}; the collector was built "
                        f"with other settings than the run that saved it"
                    )
                target[:rows] = arrays[name]
            seg.length, seg.num_padding, seg.episode_end = (int(v) for v in layout[:3])
            seg.terminated = bool(layout[3])
        want = GameSegment(**kw).layout
        if seg.layout != want:
            raise ValueError(
                f"saved game segment has layout {seg.layout}, this writer's is {want}; the "
                f"collector was built with other settings than the run that saved it"
            )
        seg.weight_version = int(state["weight_version"])
        return seg

    @property
    def num_unfinished_transitions(self) -> int:
        """Transitions recorded but not yet in a finished segment."""
        return sum(s.length for s in (self._pending, self._current) if s is not None)


def segment_state(seg: GameSegment | None) -> dict[str, Any] | None:
    """A segment's used positions (copies) and layout as plain data with NumPy arrays, for
    :meth:`GameSegmentWriter.segment_from_state`; ``None`` for ``None``."""
    if seg is None:
        return None
    n = seg.num_positions
    return {
        "arrays": {name: np.array(getattr(seg, name)[:n]) for name in ARRAY_FIELDS},
        "length": seg.length,
        "num_padding": seg.num_padding,
        "episode_end": seg.episode_end,
        "terminated": seg.terminated,
        "finished": seg.finished,
        "weight_version": seg.weight_version,
        "task_id": seg.task_id,
    }
