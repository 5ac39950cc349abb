"""n-step value targets: what the buffer can compute, and the hand-off to the target network.

For an unroll position ``u`` of an episode whose final observation sits at ``E`` (``E = inf``
when the episode goes on), with ``n = td_steps`` and ``gamma = discount_factor``::

    b = min(u + n, E)                                   # bootstrap position
    z_u = sum_{i < b - u} gamma^i s(u, u+i) r_{u+i}     # reward_sum
          + gamma^(b - u) s(u, b) V(obs_b)              # discount * V(bootstrap obs)

where ``V(obs_b)`` is the target network's value (or the search value stored at ``b``: the
buffer hands out both, see ``value_bootstrap``). The bootstrap term is dropped when the episode
*terminated* at ``b == E`` (a terminal state is worth 0) and kept when it was *truncated*
(the final observation is an ordinary state). Positions after ``E`` are absorbing: target 0.
``s(u, j)`` is ``-1`` when ``to_play`` at ``j`` differs from ``to_play`` at ``u`` in two-player
games (rewards and values are from the mover's point of view), else ``+1``.

The buffer fills ``reward_sum``, ``bootstrap_discount`` and the bootstrap observations with
:func:`nstep_bootstrap`; the policy runs its target network on those observations and calls
:func:`compute_value_targets`::

    inputs = value_target_inputs(batch.to(device))       # obs [M, *O] for M bootstrap states
    with torch.no_grad():
        values = target_model.initial_inference(inputs.obs).value      # [M]
    value_targets = compute_value_targets(inputs, values)              # [B, K + 1]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from pipezero.data.batch import Batch


def nstep_bootstrap(
    rewards: np.ndarray,
    to_play: np.ndarray,
    end: np.ndarray,
    terminated: np.ndarray,
    num_unroll_steps: int,
    td_steps: int,
    discount_factor: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Partial n-step returns and bootstrap positions for ``K + 1`` unroll positions.

    All positions are relative to the sampled position ``t`` (window index 0).

    Args:
        rewards: ``[B, W]`` rewards at ``t .. t + W - 1``, ``W = K + n + 1`` (entries at or
            after the episode end are ignored).
        to_play: ``[B, W]`` ``to_play`` at the same positions (``-1``: single-player).
        end: ``[B]`` int, position of the final observation relative to ``t``; any value
            ``>= W`` when the episode goes on past the window.
        terminated: ``[B]`` bool, the end was a terminal state (else a truncation).
        num_unroll_steps: ``K``.
        td_steps: ``n``.
        discount_factor: ``gamma``.

    Returns:
        ``(reward_sum [B, K+1] float32, bootstrap_offset [B, K+1] int64,
        bootstrap_discount [B, K+1] float32, unroll_mask [B, K+1] bool)``:
        ``bootstrap_offset`` is the bootstrap position relative to ``t`` or ``-1`` where no
        bootstrap value is needed (``bootstrap_discount`` is 0 there); ``unroll_mask`` is
        ``False`` for positions after the episode's final observation.
    """
    k_count, n = num_unroll_steps + 1, td_steps
    width = num_unroll_steps + td_steps + 1
    if rewards.shape[1] != width or to_play.shape != rewards.shape:
        raise ValueError(
            f"rewards and to_play must be [B, K + n + 1] = [B, {width}], got "
            f"{rewards.shape} and {to_play.shape}"
        )
    k = np.arange(k_count)[None, :]  # [1, K+1]
    end = np.asarray(end, dtype=np.int64)[:, None]  # [B, 1]
    terminated = np.asarray(terminated, dtype=bool)[:, None]
    boot = np.minimum(k + n, end)  # [B, K+1]
    steps = boot - k  # rewards summed before the bootstrap; < 0 after the end
    i = np.arange(n)
    idx = np.arange(k_count)[:, None] + i  # [K+1, n] window positions of each reward
    mover = to_play[:, :k_count][..., None]  # [B, K+1, 1]
    same = (mover == -1) | (to_play[:, idx] == mover)  # [B, K+1, n]
    weights = np.where(same, 1.0, -1.0) * discount_factor**i
    weights = np.where(i < steps[..., None], weights, 0.0)
    reward_sum = (rewards[:, idx] * weights).sum(-1)

    unroll_mask = k <= end
    has_boot = unroll_mask & ((boot < end) | ((boot == end) & ~terminated))
    boot_clipped = np.minimum(boot, width - 1)
    boot_player = np.take_along_axis(to_play, boot_clipped, axis=1)
    boot_sign = np.where(
        (to_play[:, :k_count] == -1) | (boot_player == to_play[:, :k_count]), 1, -1
    )
    discount = np.where(has_boot, boot_sign * discount_factor ** np.maximum(steps, 0), 0.0)
    offset = np.where(has_boot, boot, -1)
    return (
        reward_sum.astype(np.float32),
        offset.astype(np.int64),
        discount.astype(np.float32),
        np.broadcast_to(unroll_mask, reward_sum.shape).copy(),
    )


@dataclass
class ValueTargetInputs:
    """What the target network needs to finish the value targets of a batch.

    Attributes:
        obs: ``[M, *O]`` float32 observations of the ``M`` bootstrap states.
        index: ``[M]`` int64, flat index into ``[B * (K + 1)]`` of each bootstrap state.
        reward_sum: ``[B, K + 1]`` partial discounted reward sums.
        discount: ``[B, K + 1]`` factor of the bootstrap value (0 where none).
        mask: ``[B, K + 1]`` float32, 1 for unroll positions inside the episode.
    """

    obs: torch.Tensor
    index: torch.Tensor
    reward_sum: torch.Tensor
    discount: torch.Tensor
    mask: torch.Tensor


def value_target_inputs(batch: Batch[torch.Tensor]) -> ValueTargetInputs:
    """The target network's inputs from a batch of :meth:`ReplayBuffer.sample` already on
    its device (:meth:`~pipezero.data.batch.Batch.to`); observations cast to float32 there."""
    return ValueTargetInputs(
        obs=batch.bootstrap_obs.float(),
        index=batch.bootstrap_index,
        reward_sum=batch.reward_sum,
        discount=batch.bootstrap_discount,
        mask=batch.unroll_mask.float(),
    )


def compute_value_targets(
    inputs: ValueTargetInputs, bootstrap_values: torch.Tensor
) -> torch.Tensor:
    """``reward_sum + discount * V(bootstrap obs)``, ``[B, K + 1]``.

    Args:
        inputs: from :func:`value_target_inputs`.
        bootstrap_values: ``[M]`` target-network values of ``inputs.obs``.
    """
    if bootstrap_values.shape != inputs.index.shape:
        raise ValueError(
            f"bootstrap_values must be [M] = {tuple(inputs.index.shape)} (one per bootstrap "
            f"observation), got {tuple(bootstrap_values.shape)}"
        )
    values = torch.zeros(
        inputs.reward_sum.numel(), dtype=inputs.reward_sum.dtype, device=inputs.reward_sum.device
    )
    values[inputs.index] = bootstrap_values.to(values.dtype)
    return inputs.reward_sum + inputs.discount * values.view_as(inputs.reward_sum)


def value_prefix_targets(rewards: np.ndarray | torch.Tensor, lstm_horizon_len: int):
    """EfficientZero value-prefix targets: running sums of rewards reset every horizon.

    Args:
        rewards: ``[B, K]`` per-step reward targets of an unroll (``batch.rewards``).
        lstm_horizon_len: the LSTM is reset before unroll steps ``0, H, 2H, ...``.

    Returns:
        ``[B, K]`` of the same type: ``prefix[:, k] = rewards[:, s:k+1].sum()`` with
        ``s = (k // H) * H``.
    """
    if lstm_horizon_len < 1:
        raise ValueError(f"lstm_horizon_len must be >= 1, got {lstm_horizon_len!r}")
    out = rewards.clone() if isinstance(rewards, torch.Tensor) else np.array(rewards, copy=True)
    for k in range(1, out.shape[1]):
        if k % lstm_horizon_len:
            out[:, k] += out[:, k - 1]
    return out
