"""Balanced sampling across the tasks of a multi-task replay buffer.

A multi-task run pushes segments of several tasks (``GameSegment.task_id``) into one
:class:`~pipezero.data.replay_buffer.ReplayBuffer`. Sampling proportionally to the priorities
over all transitions would let a task with larger TD errors (or more stored transitions)
crowd the others out of the batches. :class:`TaskTrees` keeps one
:class:`~pipezero.data.sum_tree.SumTree` per task over the buffer's slots, so a batch of ``B``
rows draws ``B // T`` rows from each of the ``T`` tasks present (the ``B % T`` remaining
rows go to distinct tasks picked at random) and, within a task, proportionally to
``priority ** alpha``.

Importance weights correct the priority bias *within* a task only:
``w_i = (N_k * P(i | k)) ** -beta`` with ``N_k`` the task's stored transitions and
``P(i | k)`` the transition's probability inside its task, normalised by the batch maximum.
The balance across tasks is the intended training distribution, so it is not corrected.

The buffer creates a :class:`TaskTrees` only when a second task id arrives; single-task
buffers pay nothing.
"""

from __future__ import annotations

import numpy as np

from pipezero.data.sum_tree import SumTree

__all__ = ["TaskTrees", "balanced_quota"]


def balanced_quota(batch_size: int, num_tasks: int, rng: np.random.Generator) -> np.ndarray:
    """``[T]`` rows per task: ``batch_size // T`` each, plus one for ``batch_size % T``
    distinct tasks drawn at random (so no task is favoured on average)."""
    quota = np.full(num_tasks, batch_size // num_tasks, dtype=np.int64)
    quota[rng.choice(num_tasks, batch_size % num_tasks, replace=False)] += 1
    return quota


class TaskTrees:
    """One sum tree per task over ``capacity`` slots, and each slot's task.

    Args:
        capacity: slots of the buffer (its capacity in transitions).

    Attributes:
        slot_task: ``[capacity]`` int64 task id of each slot (``-1``: free).
        trees: task id -> its :class:`SumTree` (values ``priority ** alpha``; 0 off-task).
        counts: task id -> live transitions of the task.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self.slot_task = np.full(self.capacity, -1, dtype=np.int64)
        self.trees: dict[int, SumTree] = {}
        self.counts: dict[int, int] = {}

    @property
    def tasks(self) -> list[int]:
        """The task ids with live transitions, ascending."""
        return sorted(t for t, n in self.counts.items() if n > 0)

    def assign(self, slots: np.ndarray, task_id: int) -> None:
        """Give ``slots`` ``[M]`` (free ones) to ``task_id``; their values start at 0."""
        if task_id not in self.trees:
            self.trees[task_id] = SumTree(self.capacity)
            self.counts[task_id] = 0
        self.slot_task[slots] = task_id
        self.counts[task_id] += len(slots)

    def update(self, slots: np.ndarray, values: np.ndarray) -> None:
        """Set the values (``priority ** alpha``) of assigned ``slots`` ``[M]``."""
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), np.shape(slots))
        tasks = self.slot_task[slots]
        for task in np.unique(tasks).tolist():
            mine = tasks == task
            self.trees[task].update(slots[mine], values[mine])

    def release(self, slots: np.ndarray) -> None:
        """Free ``slots`` ``[M]`` (an evicted segment's)."""
        self.update(slots, 0.0)
        tasks = self.slot_task[slots]
        for task, n in zip(*np.unique(tasks, return_counts=True), strict=True):
            self.counts[int(task)] -= int(n)
        self.slot_task[slots] = -1

    def sample(
        self, batch_size: int, rng: np.random.Generator, beta: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``batch_size`` slots balanced over :attr:`tasks` (see the module doc).

        Returns:
            ``(slots [B] int64, weights [B] float32)``, task by task in ascending id order;
            weights are the within-task importance weights normalised by their maximum.
        """
        tasks = self.tasks
        quota = balanced_quota(batch_size, len(tasks), rng)
        slots, weights = [], []
        for task, rows in zip(tasks, quota.tolist(), strict=True):
            if rows == 0:
                continue
            tree = self.trees[task]
            drawn, leaf = tree.sample(rows, rng)
            slots.append(drawn)
            weights.append((self.counts[task] * leaf / tree.total) ** (-beta))
        w = np.concatenate(weights)
        return np.concatenate(slots), (w / w.max()).astype(np.float32)
