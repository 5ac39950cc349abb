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
(:mod:`pipezero.data.task_balance`). A batch is a plain
``dict`` of NumPy arrays (keys in :meth:`ReplayBuffer.sample`); convert with
:func:`batch_to_tensors` or :func:`~pipezero.data.targets.value_target_inputs`.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from pipezero.data.game_segment import GameSegment
from pipezero.data.sum_tree import SumTree
from pipezero.data.targets import nstep_bootstrap
from pipezero.data.task_balance import TaskTrees

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
            indices: ``[M]`` transition ids (``batch["indices"]``).
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

    def sample(self, batch_size: int, with_unroll_obs: bool = False) -> dict[str, np.ndarray]:
        """Sample ``batch_size`` positions (``B``) proportionally to their priorities.

        Shapes use ``K = num_unroll_steps``, ``A`` actions, ``*O`` the observation shape and
        ``M`` the number of positions needing a bootstrap value. "Valid" positions hold a
        transition (search statistics exist); positions after the episode end are absorbing.

        Returns:
            ``obs [B, *O]``: observation at the sampled position;
            ``unroll_obs [B, K, *O]`` and ``unroll_obs_mask [B, K]`` (only with
            ``with_unroll_obs``, for EfficientZero's consistency loss): observations at
            ``t + 1 .. t + K``;
            ``actions [B, K]`` int64 (random where not valid), ``[B, K, D]`` float32 for
            continuous actions (uniform in ``[-1, 1]`` where not valid);
            ``rewards [B, K]`` float32: reward of each unrolled action (0 after the end);
            ``target_policy [B, K + 1, A]`` float32 and ``policy_mask [B, K + 1]`` float32
            (``[B, K + 1, Ks]`` over the sampled actions for segments of a sampled search);
            ``root_sampled_actions [B, K + 1, Ks, *action_shape]`` (only for those
            segments; zeros where not valid);
            ``action_masks [B, K + 1, A]`` bool (all ``True`` where not valid);
            ``to_play [B, K + 1]`` int64 (``-1`` after the end);
            ``root_values [B, K + 1]`` float32 (0 where not valid);
            ``unroll_mask [B, K + 1]`` float32: 1 up to and including the final observation;
            ``reward_sum [B, K + 1]``, ``bootstrap_discount [B, K + 1]`` float32,
            ``bootstrap_obs [M, *O]`` and ``bootstrap_index [M]`` (flat into ``B * (K + 1)``):
            the n-step value-target inputs, see :mod:`pipezero.data.targets`;
            ``bootstrap_search_values [M]`` float32: the stored search (root) value of each
            bootstrap observation, NaN at a final observation (never searched);
            ``weights [B]`` float32 importance weights; ``indices [B]`` int64 transition ids
            for :meth:`update_priorities`; ``segment_ids [B]`` and ``positions [B]`` int64;
            ``task_ids [B]`` int64, the task of each row (``GameSegment.task_id``).

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
        width = k + n + 1
        if self._tasks is not None and len(self._tasks.tasks) > 1:
            slots, weights = self._tasks.sample(batch_size, self.rng, self.priority_prob_beta)
        else:
            slots, leaf = self._tree.sample(batch_size, self.rng)
            probs = leaf / self._tree.total
            weights = (self.num_transitions * probs) ** (-self.priority_prob_beta)
            weights = (weights / weights.max()).astype(np.float32)
        ids = self._first_id + (slots - self._first_id) % self.capacity

        b = batch_size
        seg_ids = self._slot_segment[slots]
        positions = self._slot_position[slots]
        obs_shape, a, action_shape, ks = self._layout  # type: ignore[misc]
        action_dtype = np.float32 if action_shape else np.int64
        window = np.arange(width)
        rewards_w = np.zeros((b, width), dtype=np.float32)
        to_play_w = np.zeros((b, width), dtype=np.int64)
        actions = np.zeros((b, k, *action_shape), dtype=action_dtype)
        policy = np.zeros((b, k + 1, ks or a), dtype=np.float32)
        sampled = np.zeros((b, k + 1, ks, *action_shape), dtype=action_dtype) if ks else None
        masks = np.zeros((b, k + 1, a), dtype=bool)
        root_values = np.zeros((b, k + 1), dtype=np.float32)
        end = np.empty(b, dtype=np.int64)
        terminated = np.zeros(b, dtype=bool)
        num_valid = np.empty(b, dtype=np.int64)  # transitions at or after t
        segments = [self._segments[int(s)][0] for s in seg_ids]
        obs_dtype = segments[0].obs.dtype
        obs = np.zeros((b, *obs_shape), dtype=obs_dtype)
        unroll_obs = np.zeros((b, k, *obs_shape), dtype=obs_dtype) if with_unroll_obs else None
        for row, (seg, t) in enumerate(zip(segments, positions.tolist(), strict=True)):
            pos = np.minimum(t + window, seg.num_positions - 1)
            rewards_w[row] = seg.rewards[pos]
            to_play_w[row] = seg.to_play[pos]
            actions[row] = seg.actions[pos[:k]]
            policy[row] = seg.child_visits[pos[: k + 1]]
            masks[row] = seg.action_masks[pos[: k + 1]]
            root_values[row] = seg.root_values[pos[: k + 1]]
            if sampled is not None:
                sampled[row] = seg.root_sampled_actions[pos[: k + 1]]
            obs[row] = seg.obs[t]
            if unroll_obs is not None:
                unroll_obs[row] = seg.obs[pos[1 : k + 1]]
            end[row] = seg.episode_end - t if seg.episode_ended else width
            terminated[row] = seg.terminated
            num_valid[row] = seg.length + seg.num_padding - t

        reward_sum, boot_offset, discount, unroll_mask = nstep_bootstrap(
            rewards_w, to_play_w, end, terminated, k, n, self.discount_factor
        )
        valid = window[None, : k + 1] < num_valid[:, None]  # [B, K+1]
        if action_shape:
            rand_actions = self.rng.uniform(-1.0, 1.0, size=(b, k, *action_shape))
            valid_actions = valid[:, :k].reshape(b, k, *(1 for _ in action_shape))
            actions = np.where(valid_actions, actions, rand_actions).astype(np.float32)
        else:
            rand_actions = self.rng.integers(0, a, size=(b, k))
            actions = np.where(valid[:, :k], actions, rand_actions)
        if sampled is not None:
            sampled[~valid] = 0
        rewards = np.where(valid[:, :k], rewards_w[:, :k], 0.0).astype(np.float32)
        policy[~valid] = 0.0
        masks[~valid] = True
        root_values[~valid] = 0.0
        to_play = np.where(unroll_mask, to_play_w[:, : k + 1], -1)

        boot_rows, boot_cols = np.nonzero(boot_offset >= 0)
        boot_pos = positions[boot_rows] + boot_offset[boot_rows, boot_cols]
        bootstrap_obs = np.zeros((boot_rows.size, *obs_shape), dtype=obs_dtype)
        # the search value there; NaN at a final observation (it was never searched)
        bootstrap_search = np.full(boot_rows.size, np.nan, dtype=np.float32)
        for j, (row, p) in enumerate(zip(boot_rows.tolist(), boot_pos.tolist(), strict=True)):
            seg = segments[row]
            bootstrap_obs[j] = seg.obs[p]
            if p != seg.episode_end:
                bootstrap_search[j] = seg.root_values[p]

        batch = {
            "obs": obs,
            "actions": actions,
            "rewards": rewards,
            "target_policy": policy,
            "policy_mask": valid.astype(np.float32),
            "action_masks": masks,
            "to_play": to_play,
            "root_values": root_values,
            "unroll_mask": unroll_mask.astype(np.float32),
            "reward_sum": reward_sum,
            "bootstrap_discount": discount,
            "bootstrap_obs": bootstrap_obs,
            "bootstrap_index": (boot_rows * (k + 1) + boot_cols).astype(np.int64),
            "bootstrap_search_values": bootstrap_search,
            "weights": weights,
            "indices": ids,
            "segment_ids": seg_ids,
            "positions": positions,
            "task_ids": np.array([seg.task_id for seg in segments], dtype=np.int64),
        }
        if sampled is not None:
            batch["root_sampled_actions"] = sampled
        if unroll_obs is not None:
            batch["unroll_obs"] = unroll_obs
            batch["unroll_obs_mask"] = unroll_mask[:, 1:].astype(np.float32)
        return batch


def batch_to_tensors(
    batch: dict[str, np.ndarray], device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    """Convert a sampled batch to tensors on ``device`` (observations become float32)."""
    out = {}
    for key, value in batch.items():
        tensor = torch.as_tensor(value, device=device)
        if key in ("obs", "unroll_obs", "bootstrap_obs"):
            tensor = tensor.float()
        out[key] = tensor
    return out
