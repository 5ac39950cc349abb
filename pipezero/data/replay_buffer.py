"""Prioritised replay of GameSegments with per-transition priorities.

Storage: finished :class:`~pipezero.data.game_segment.GameSegment` objects, oldest first.
Every real transition gets a *transition id* (a global counter, never reused) and a leaf of a
:class:`~pipezero.data.sum_tree.SumTree` (``id % capacity``). Because segments leave in the
order they came, the live ids are always the contiguous range ``[first_id, next_id)`` of at
most ``capacity`` ids, so leaves never collide and a stale id (its segment was evicted
between :meth:`ReplayBuffer.sample` and :meth:`ReplayBuffer.update_priorities`) is recognised
and ignored.

Capacity is counted in real (unpadded) transitions: pushing a segment first evicts the
oldest segments until it fits.

Sampling is proportional to ``priority ** priority_prob_alpha``, with importance weights
``(N * P(i)) ** -priority_prob_beta`` normalised by the batch maximum. Segments of several
tasks (``GameSegment.task_id``, multi-task runs) are sampled *balanced*: each batch draws
equally from the tasks present, by priority within each task
(:mod:`pipezero.data.task_balance`). A batch is a typed
:class:`~pipezero.data.batch.Batch` of NumPy arrays; :meth:`Batch.to` moves it to a device in
one copy.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from pipezero.data.batch import Batch
from pipezero.data.game_segment import GameSegment
from pipezero.data.sum_tree import SumTree
from pipezero.data.targets import nstep_bootstrap
from pipezero.data.task_balance import TaskTrees
from pipezero.data.unroll_windows import gather_bootstrap, gather_windows, mask_absent

logger = logging.getLogger(__name__)


class ReplayBuffer:
    """Replay buffer of game segments with prioritised transition sampling.

    Args:
        capacity: maximum number of real transitions kept (>= the longest segment pushed).
        num_unroll_steps: ``K``, unroll steps per sample.
        td_steps: ``n`` of the n-step value targets.
        discount_factor: ``gamma``, per-step discount.
        priority_prob_alpha: priority exponent; 0 samples uniformly.
        priority_prob_beta: importance-weight exponent in ``[0, 1]`` (may be annealed by
            assigning the attribute).
        seed: seed of the sampling random generator.
        balance_tasks: with segments of more than one ``task_id``, draw every batch
            equally from the tasks present (:mod:`pipezero.data.task_balance`); ``False``:
            by priority over all transitions whatever their task.
    """

    def __init__(
        self,
        capacity: int,
        num_unroll_steps: int,
        td_steps: int,
        discount_factor: float = 0.997,
        priority_prob_alpha: float = 0.6,
        priority_prob_beta: float = 0.4,
        seed: int | None = None,
        balance_tasks: bool = True,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive int (transitions), got {capacity!r}")
        if num_unroll_steps < 0 or td_steps < 1:
            raise ValueError(
                f"need num_unroll_steps >= 0 and td_steps >= 1, got {num_unroll_steps!r} and "
                f"{td_steps!r}"
            )
        if not 0.0 < discount_factor <= 1.0:
            raise ValueError(f"discount_factor must be in (0, 1], got {discount_factor!r}")
        if priority_prob_alpha < 0:
            raise ValueError(f"priority_prob_alpha must be >= 0, got {priority_prob_alpha!r}")
        if not 0.0 <= priority_prob_beta <= 1.0:
            raise ValueError(f"priority_prob_beta must be in [0, 1], got {priority_prob_beta!r}")
        self.capacity = capacity
        self.num_unroll_steps = int(num_unroll_steps)
        self.td_steps = int(td_steps)
        self.discount_factor = float(discount_factor)
        self.priority_prob_alpha = float(priority_prob_alpha)
        self.priority_prob_beta = float(priority_prob_beta)
        self.rng = np.random.default_rng(seed)
        self._tree = SumTree(capacity)
        self._priorities = np.zeros(capacity, dtype=np.float64)  # raw, before ** alpha
        self._slot_segment = np.full(capacity, -1, dtype=np.int64)
        self._slot_position = np.zeros(capacity, dtype=np.int64)
        self._segments: OrderedDict[int, tuple[GameSegment, int]] = OrderedDict()
        self._next_segment_id = 0
        self._first_id = 0  # oldest live transition id
        self._next_id = 0
        self._max_priority = 1.0
        self._layout: tuple | None = None  # GameSegment.layout: (obs shape, A, action shape, Ks)
        self.balance_tasks = bool(balance_tasks)
        self._first_task: int | None = None  # the task id of the first segment pushed
        self._tasks: TaskTrees | None = None  # per-task trees, once a second task arrives

    @classmethod
    def from_config(cls, policy_cfg: Mapping[str, Any], seed: int | None = None) -> ReplayBuffer:
        """The buffer a policy config asks for: ``replay_buffer_size``, ``num_unroll_steps``,
        ``td_steps``, ``discount_factor``, and ``priority_prob_alpha`` / ``priority_prob_beta``
        when ``use_priority`` is on (uniform sampling, no importance weights, when it is off)."""
        prioritised = bool(policy_cfg["use_priority"])
        return cls(
            capacity=policy_cfg["replay_buffer_size"],
            num_unroll_steps=policy_cfg["num_unroll_steps"],
            td_steps=policy_cfg["td_steps"],
            discount_factor=policy_cfg["discount_factor"],
            priority_prob_alpha=policy_cfg["priority_prob_alpha"] if prioritised else 0.0,
            priority_prob_beta=policy_cfg["priority_prob_beta"] if prioritised else 0.0,
            seed=seed,
        )

    # -- size -------------------------------------------------------------------------------

    @property
    def num_transitions(self) -> int:
        """Real transitions stored (what capacity counts)."""
        return self._next_id - self._first_id

    @property
    def num_segments(self) -> int:
        """Segments stored."""
        return len(self._segments)

    def __len__(self) -> int:
        return self.num_transitions

    def segments(self) -> list[GameSegment]:
        """The stored segments, oldest first."""
        return [seg for seg, _ in self._segments.values()]

    # -- writing ----------------------------------------------------------------------------

    def push(self, segment: GameSegment, priorities: np.ndarray | None = None) -> int:
        """Store a finished segment, evicting the oldest ones until it fits.

        Args:
            segment: a finished :class:`GameSegment` (see :meth:`GameSegment.finish`).
            priorities: ``[T]`` initial priorities of its real transitions; ``None`` gives
                each the largest priority seen so far (so new data is sampled soon).

        Returns:
            The segment id.
        """
        if not segment.finished:
            raise ValueError("push() needs a finished GameSegment; call segment.finish() first")
        need = self.num_unroll_steps + self.td_steps
        if segment.padding_length < need:
            raise ValueError(
                f"segment padded with {segment.padding_length} positions but the buffer "
                f"needs num_unroll_steps + td_steps = {need}; build segments with the "
                "buffer's num_unroll_steps and td_steps"
            )
        layout = segment.layout
        if self._layout is None:
            self._layout = layout
        elif layout != self._layout:
            raise ValueError(
                f"segment has (observation_shape, action_space_size, action_shape, "
                f"num_sampled_actions) = {layout}, the buffer holds {self._layout}"
            )
        length = segment.length
        if length > self.capacity:
            raise ValueError(
                f"segment of {length} transitions exceeds capacity {self.capacity}; raise "
                "capacity above game_segment_length"
            )
        if priorities is None:
            prio = np.full(length, self._max_priority)
        else:
            prio = self._check_priorities(priorities, length)
        while self.num_transitions + length > self.capacity:
            self._evict_oldest()
        sid = self._next_segment_id
        self._insert(segment, sid, self._next_id, prio)
        self._next_segment_id += 1
        self._next_id += length
        return sid

    def _insert(self, segment: GameSegment, sid: int, first: int, prio: np.ndarray) -> None:
        """Place ``segment`` at transition ids ``first .. first + T - 1`` (no checks)."""
        slots = np.arange(first, first + segment.length) % self.capacity
        self._slot_segment[slots] = sid
        self._slot_position[slots] = np.arange(segment.length)
        self._segments[sid] = (segment, first)
        self._track_task(segment, slots)
        self._set_priorities(slots, prio)

    def _track_task(self, segment: GameSegment, slots: np.ndarray) -> None:
        """Assign ``slots`` to the segment's task; build the per-task trees (from every stored
        segment) when a second task id arrives and ``balance_tasks`` is on."""
        task = segment.task_id
        if self._tasks is None:
            if self._first_task is None:
                self._first_task = task
            if task == self._first_task or not self.balance_tasks:
                return
            self._tasks = TaskTrees(self.capacity)
            for seg, first in self._segments.values():
                live = np.arange(first, first + seg.length) % self.capacity
                self._tasks.assign(live, seg.task_id)
                self._tasks.update(live, self._priorities[live] ** self.priority_prob_alpha)
            return
        self._tasks.assign(slots, task)

    def extend(self, segments: list[GameSegment]) -> list[int]:
        """Push several segments with default priorities; returns their ids."""
        return [self.push(s) for s in segments]

    def _evict_oldest(self) -> None:
        _, (segment, first) = self._segments.popitem(last=False)
        slots = np.arange(first, first + segment.length) % self.capacity
        self._priorities[slots] = 0.0
        self._tree.update(slots, 0.0)
        if self._tasks is not None:
            self._tasks.release(slots)
        self._slot_segment[slots] = -1
        self._first_id = first + segment.length

    def _check_priorities(self, priorities: np.ndarray, size: int) -> np.ndarray:
        prio = np.asarray(priorities, dtype=np.float64).reshape(-1)
        if prio.shape != (size,):
            raise ValueError(f"expected {size} priorities, got shape {np.shape(priorities)}")
        if not (np.isfinite(prio).all() and (prio >= 0).all()):
            raise ValueError(
                f"priorities must be finite and >= 0, got e.g. "
                f"{prio[~np.isfinite(prio) | (prio < 0)][:5]}"
            )
        return prio

    def _set_priorities(self, slots: np.ndarray, prio: np.ndarray) -> None:
        self._priorities[slots] = prio
        self._tree.update(slots, prio**self.priority_prob_alpha)
        if self._tasks is not None:
            self._tasks.update(slots, prio**self.priority_prob_alpha)
        if prio.size:
            self._max_priority = max(self._max_priority, float(prio.max()))

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> int:
        """Set new priorities for sampled transitions.

        Args:
            indices: ``[M]`` transition ids (``batch.indices``).
            priorities: ``[M]`` new priorities, finite and ``>= 0`` (e.g. ``|z - v| + eps``).

        Returns:
            The number of priorities applied; ids whose segment was evicted since sampling
            are skipped.
        """
        ids = np.asarray(indices, dtype=np.int64).reshape(-1)
        prio = self._check_priorities(priorities, ids.size)
        live = (ids >= self._first_id) & (ids < self._next_id)
        if not live.all():
            logger.debug("update_priorities: skipped %d evicted ids", int((~live).sum()))
        self._set_priorities(ids[live] % self.capacity, prio[live])
        return int(live.sum())

    def get_priorities(self, indices: np.ndarray) -> np.ndarray:
        """Raw priorities ``[M]`` of live transition ids ``[M]``."""
        ids = np.asarray(indices, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < self._first_id or ids.max() >= self._next_id):
            raise IndexError(
                f"transition ids must be live, in [{self._first_id}, {self._next_id}), got "
                f"range [{ids.min()}, {ids.max()}]"
            )
        return self._priorities[ids % self.capacity]

    # -- persistence ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the buffer to ``path`` atomically (see :mod:`pipezero.data.buffer_io`)."""
        from pipezero.data.buffer_io import save_buffer

        save_buffer(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReplayBuffer:
        """Read a buffer written by :meth:`save`."""
        from pipezero.data.buffer_io import load_buffer

        return load_buffer(path)

    # -- sampling ---------------------------------------------------------------------------

    def sample(self, batch_size: int, with_unroll_obs: bool = False) -> Batch[np.ndarray]:
        """Sample ``batch_size`` positions (``B``) proportionally to their priorities.

        Returns:
            A :class:`~pipezero.data.batch.Batch` of NumPy arrays (its fields list the
            shapes). ``root_sampled_actions`` is set for segments of a sampled search;
            ``unroll_obs`` and ``unroll_obs_mask`` only ``with_unroll_obs`` (for consistency
            losses, reanalysis and UniZero's teacher forcing).

        With segments of several tasks stored (and ``balance_tasks``), the rows come task by
        task, ``B // T`` from each of the ``T`` tasks present (the rest to random distinct
        tasks), and the importance weights correct the priorities within each task only
        (:mod:`pipezero.data.task_balance`).
        """
        if self.num_transitions == 0:
            raise RuntimeError("sample() on an empty ReplayBuffer; push segments first")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        k, n = self.num_unroll_steps, self.td_steps
        slots, weights = self._draw(batch_size)
        seg_ids = self._slot_segment[slots]
        positions = self._slot_position[slots]
        segments = [self._segments[int(s)][0] for s in seg_ids]
        windows = gather_windows(segments, positions, self._layout, k, n, with_unroll_obs)
        reward_sum, boot_offset, discount, unroll_mask = nstep_bootstrap(
            windows.rewards,
            windows.to_play,
            windows.end,
            windows.terminated,
            k,
            n,
            self.discount_factor,
        )
        valid, actions = mask_absent(windows, self._layout[1], self.rng)  # type: ignore[index]
        bootstrap_obs, bootstrap_index, bootstrap_search = gather_bootstrap(
            segments, positions, boot_offset, windows.obs
        )
        return Batch(
            obs=windows.obs,
            actions=actions,
            rewards=np.where(valid[:, :k], windows.rewards[:, :k], 0.0).astype(np.float32),
            target_policy=windows.policy,
            policy_mask=valid.astype(np.float32),
            action_masks=windows.action_masks,
            to_play=np.where(unroll_mask, windows.to_play[:, : k + 1], -1),
            root_values=windows.root_values,
            unroll_mask=unroll_mask.astype(np.float32),
            reward_sum=reward_sum,
            bootstrap_discount=discount,
            bootstrap_obs=bootstrap_obs,
            bootstrap_index=bootstrap_index,
            bootstrap_search_values=bootstrap_search,
            weights=weights,
            indices=self._first_id + (slots - self._first_id) % self.capacity,
            segment_ids=seg_ids,
            positions=positions,
            task_ids=np.array([seg.task_id for seg in segments], dtype=np.int64),
            root_sampled_actions=windows.sampled,
            unroll_obs=windows.unroll_obs,
            unroll_obs_mask=(
                unroll_mask[:, 1:].astype(np.float32) if windows.unroll_obs is not None else None
            ),
        )

    def _draw(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """``(slots [B], weights [B] float32)``: sum-tree leaves drawn by priority (balanced
        over the tasks when several are stored) and their normalised importance weights."""
        if self._tasks is not None and len(self._tasks.tasks) > 1:
            return self._tasks.sample(batch_size, self.rng, self.priority_prob_beta)
        slots, leaf = self._tree.sample(batch_size, self.rng)
        probs = leaf / self._tree.total
        weights = (self.num_transitions * probs) ** (-self.priority_prob_beta)
        return slots, (weights / weights.max()).astype(np.float32)
