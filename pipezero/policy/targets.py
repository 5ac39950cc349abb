"""Training targets of one sampled batch: n-step values, rewards, policies and their masks.

The replay buffer (``ReplayBuffer.sample``) already computed the partial n-step returns; here
the target network supplies the bootstrap values, and the masks say which unroll positions
take part in which loss. Shapes: ``B`` batch, ``K`` unroll steps, ``A`` actions.

Masks, for an episode whose final observation sits at unroll position ``E``:

- policy: positions where a search happened (``batch.policy_mask``, i.e. ``< E``);
- value: positions ``<= E`` (``batch.unroll_mask``). When the episode *terminated* inside
  the unroll window, the positions after ``E`` are absorbing states (value 0, reward 0) and
  are trained as such, as in MuZero; after a *truncation* they are unknown and masked out;
- reward of unroll step ``k`` (the action taken at position ``k - 1``): same as the value
  mask of position ``k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pipezero.data import Batch, DeviceBatch, compute_value_targets, value_target_inputs
from pipezero.model.protocol import MuZeroModelProtocol


@dataclass
class UnrollTargets:
    """Targets and masks of one batch (all float32 tensors).

    Attributes:
        value: ``[B, K + 1]`` n-step value targets in game units.
        reward: ``[B, K]`` reward targets of the unrolled actions (value prefixes for
            EfficientZero).
        policy: ``[B, K + 1, A]`` search policy targets.
        value_mask: ``[B, K + 1]`` 1 where the value loss applies.
        reward_mask: ``[B, K]`` 1 where the reward loss applies.
        policy_mask: ``[B, K + 1]`` 1 where the policy loss applies.
    """

    value: torch.Tensor
    reward: torch.Tensor
    policy: torch.Tensor
    value_mask: torch.Tensor
    reward_mask: torch.Tensor
    policy_mask: torch.Tensor


def terminated_in_window(batch: Batch[np.ndarray]) -> np.ndarray:
    """``[B]`` bool: the sampled unroll window contains a *terminal* final observation.

    The final observation ``E`` is the last position with ``unroll_mask == 1`` and no search
    (``policy_mask == 0``). Its value target has no bootstrap (``bootstrap_discount == 0``)
    exactly when the episode terminated; a truncated end bootstraps from itself.
    """
    final = (batch.unroll_mask > 0) & (batch.policy_mask == 0)
    return (final & (batch.bootstrap_discount == 0)).any(axis=1)


def loss_masks(batch: Batch[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(value_mask [B, K+1], reward_mask [B, K], policy_mask [B, K+1])`` float32 arrays."""
    value_mask = batch.unroll_mask.astype(np.float32)
    value_mask[terminated_in_window(batch)] = 1.0  # absorbing states after a terminal
    return value_mask, value_mask[:, 1:].copy(), batch.policy_mask.astype(np.float32)


#: Where the n-step value targets take their bootstrap values from (``value_bootstrap``).
VALUE_BOOTSTRAP_SOURCES = ("target_network", "search")


@torch.no_grad()
def bootstrapped_value_targets(
    batch: DeviceBatch,
    target_model: MuZeroModelProtocol,
    source: str = "target_network",
) -> torch.Tensor:
    """``[B, K + 1]`` n-step value targets, on the batch's device.

    Args:
        batch: from :meth:`~pipezero.data.ReplayBuffer.sample`, moved
            (:meth:`DeviceBatch.move`).
        target_model: supplies the bootstrap values.
        source: ``"target_network"`` runs ``target_model.initial_inference`` once on the
            ``M`` bootstrap observations (none when no position needs one);
            ``"search"`` takes the search value the collector stored at each bootstrap
            position (MuZero's original target: no inference, but values as old as the
            data) and runs the target network only on the final observations of
            truncated episodes, which were never searched.
    """
    if source not in VALUE_BOOTSTRAP_SOURCES:
        raise ValueError(
            f"value_bootstrap must be one of {VALUE_BOOTSTRAP_SOURCES}, got {source!r}"
        )
    tensors = batch.tensors
    if source == "search":
        unsearched = np.isnan(batch.host.bootstrap_search_values)
        values = tensors.bootstrap_search_values.clone()
        inputs = value_target_inputs(tensors)
        if unsearched.any():
            # only the never-searched observations go through the network
            rows = torch.as_tensor(unsearched, device=batch.device)
            values[rows] = target_model.initial_inference(inputs.obs[rows]).value
        return compute_value_targets(inputs, values)
    inputs = value_target_inputs(tensors)
    if inputs.obs.shape[0] == 0:
        values = inputs.reward_sum.new_zeros(0)
    else:
        values = target_model.initial_inference(inputs.obs).value
    return compute_value_targets(inputs, values)


def unroll_targets(
    batch: DeviceBatch, value: torch.Tensor, reward: np.ndarray | None = None
) -> UnrollTargets:
    """Assemble :class:`UnrollTargets` from a moved batch, its value targets ``[B, K + 1]``
    and its reward targets ``[B, K]`` (``batch.host.rewards``, or their value prefixes;
    ``None``: the batch's ``reward_targets``). The loss masks are the batch's ``value_mask``
    and ``reward_mask`` when it has them (a learner's prepared batch), else
    :func:`loss_masks`. The arrays already on the device are not copied again.
    """
    device, tensors = batch.device, batch.tensors

    def as_float(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float32, device=device)

    if tensors.value_mask is not None:
        value_mask, reward_mask = tensors.value_mask.float(), tensors.reward_mask.float()
    else:
        masks = loss_masks(batch.host)
        value_mask, reward_mask = as_float(masks[0]), as_float(masks[1])
    return UnrollTargets(
        value=value.to(device=device, dtype=torch.float32),
        reward=tensors.reward_targets.float() if reward is None else as_float(reward),
        policy=tensors.target_policy.float(),
        value_mask=value_mask,
        reward_mask=reward_mask,
        policy_mask=tensors.policy_mask.float(),
    )
