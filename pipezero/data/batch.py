"""The typed training batch: what :meth:`ReplayBuffer.sample` returns, one field per array.

A :class:`Batch` holds NumPy arrays on the host (``Batch[np.ndarray]``, as sampled) or torch
tensors (``Batch[torch.Tensor]``, after :meth:`Batch.to`), with the same fields and shapes.
Shapes use ``B`` rows, ``K = num_unroll_steps``, ``A`` actions, ``Ks`` sampled actions, ``*O``
the observation shape and ``M`` the positions that need a bootstrap value. "Valid" positions
hold a transition (search statistics exist); positions after the episode end are absorbing.

:meth:`Batch.to` moves every array in one host-to-device copy
(:func:`~pipezero.data.transfer.arrays_to_device`); a learner that needs the host arrays as
well keeps both in a :class:`~pipezero.data.transfer.DeviceBatch`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from pipezero.data.transfer import arrays_to_device

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class Batch(Generic[ArrayT]):
    """Sampled unroll windows of ``B`` positions (all arrays, see the module doc for shapes).

    Attributes:
        obs: ``[B, *O]`` observation at the sampled position ``t``, in its stored dtype.
        actions: ``[B, K]`` int64 actions to unroll (random where not valid), or
            ``[B, K, D]`` float32 continuous actions (uniform in ``[-1, 1]`` where not valid).
        rewards: ``[B, K]`` float32 reward of each unrolled action (0 after the end).
        target_policy: ``[B, K + 1, A]`` float32 stored visit distributions
            (``[B, K + 1, Ks]`` over the sampled actions for segments of a sampled search).
        policy_mask: ``[B, K + 1]`` float32, 1 where a search happened (valid positions).
        action_masks: ``[B, K + 1, A]`` bool legal actions (all ``True`` where not valid).
        to_play: ``[B, K + 1]`` int64 player to move (``-1`` after the end).
        root_values: ``[B, K + 1]`` float32 stored search values (0 where not valid).
        unroll_mask: ``[B, K + 1]`` float32, 1 up to and including the final observation.
        reward_sum: ``[B, K + 1]`` float32 partial n-step returns
            (:mod:`pipezero.data.targets`).
        bootstrap_discount: ``[B, K + 1]`` float32 factor of the bootstrap value (0: none).
        bootstrap_obs: ``[M, *O]`` the bootstrap observations, in their stored dtype.
        bootstrap_index: ``[M]`` int64 flat index into ``B * (K + 1)`` of each of them.
        bootstrap_search_values: ``[M]`` float32 stored search value of each bootstrap
            observation, NaN at a final observation (never searched).
        weights: ``[B]`` float32 importance weights (batch maximum 1).
        indices: ``[B]`` int64 transition ids for :meth:`ReplayBuffer.update_priorities`.
        segment_ids: ``[B]`` int64 id of the segment of each row.
        positions: ``[B]`` int64 position ``t`` of each row in its segment.
        task_ids: ``[B]`` int64 task of each row (``GameSegment.task_id``).
        root_sampled_actions: ``[B, K + 1, Ks, *action_shape]`` sampled root actions (zeros
            where not valid); only for segments of a sampled search, else ``None``.
        unroll_obs: ``[B, K, *O]`` observations at ``t + 1 .. t + K``; only when sampled
            ``with_unroll_obs`` (consistency losses, reanalysis, UniZero), else ``None``.
        unroll_obs_mask: ``[B, K]`` float32, 1 where ``unroll_obs`` is inside the episode;
            with ``unroll_obs`` only.
        value_mask: ``[B, K + 1]`` float32 value-loss mask; ``None`` as sampled, set by a
            learner (:func:`pipezero.policy.targets.loss_masks`) before the move.
        reward_mask: ``[B, K]`` float32 reward-loss mask; set with ``value_mask``.
        reward_targets: ``[B, K]`` float32 targets of the reward head (the rewards or their
            value prefixes); set with ``value_mask``.
    """

    obs: ArrayT
    actions: ArrayT
    rewards: ArrayT
    target_policy: ArrayT
    policy_mask: ArrayT
    action_masks: ArrayT
    to_play: ArrayT
    root_values: ArrayT
    unroll_mask: ArrayT
    reward_sum: ArrayT
    bootstrap_discount: ArrayT
    bootstrap_obs: ArrayT
    bootstrap_index: ArrayT
    bootstrap_search_values: ArrayT
    weights: ArrayT
    indices: ArrayT
    segment_ids: ArrayT
    positions: ArrayT
    task_ids: ArrayT
    root_sampled_actions: ArrayT | None = None
    unroll_obs: ArrayT | None = None
    unroll_obs_mask: ArrayT | None = None
    value_mask: ArrayT | None = None
    reward_mask: ArrayT | None = None
    reward_targets: ArrayT | None = None

    @property
    def batch_size(self) -> int:
        """``B``, the number of sampled rows."""
        return int(self.obs.shape[0])

    @property
    def num_unroll_steps(self) -> int:
        """``K``, the unroll steps of every row."""
        return int(self.actions.shape[1])

    def replace(self, **changes: Any) -> Batch[ArrayT]:
        """A copy with the given fields replaced (the other arrays are shared)."""
        return dataclasses.replace(self, **changes)

    def arrays(self) -> dict[str, ArrayT]:
        """``{field name: array}`` of the fields that are set (not ``None``)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }

    def to(self: Batch[np.ndarray], device: torch.device | str) -> Batch[torch.Tensor]:
        """The batch as tensors on ``device``, every array in one host-to-device copy and in
        its own dtype (cast on the device, e.g. ``batch.obs.float()``); on the CPU the tensors
        share memory with the arrays."""
        return Batch(**arrays_to_device(self.arrays(), device))
