"""Policy reanalysis: refresh the stored search policies of a batch by a fresh search.

Stored visit distributions come from the network of the time they were collected. MuZero
Reanalyse and EfficientZero re-run the search with a recent network on a fraction
(``reanalyze_ratio``) of every training batch and train on the new distributions instead.
Here the rows ``0 .. round(B * reanalyze_ratio) - 1`` are reanalysed (the batch is already a
random sample, so the first rows are as good as any).
"""

from __future__ import annotations

import numpy as np
import torch

from pipezero.data.batch import Batch
from pipezero.data.transfer import as_device_tensor
from pipezero.mcts import MuZeroSearch
from pipezero.model.protocol import MuZeroModelProtocol


def num_reanalyzed_rows(batch_size: int, reanalyze_ratio: float) -> int:
    """Rows of a batch of ``batch_size`` to reanalyse (rounded to the nearest integer)."""
    if not 0.0 <= reanalyze_ratio <= 1.0:
        raise ValueError(f"reanalyze_ratio must be in [0, 1], got {reanalyze_ratio!r}")
    return round(batch_size * reanalyze_ratio)


@torch.no_grad()
def reanalyze_policy(
    batch: Batch[np.ndarray],
    rows: int,
    model: MuZeroModelProtocol,
    search: MuZeroSearch,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """New ``target_policy`` for a batch whose first ``rows`` rows are searched again.

    Every unroll position that holds a transition (``policy_mask == 1``) of those rows is a
    root of the new search, from its real observation (``obs`` for position 0,
    ``unroll_obs`` for the others; sample the batch with ``with_unroll_obs=True``), its legal
    actions and its player. Roots get exploration noise, as in EfficientZero's reanalysis.

    Args:
        batch: from ``ReplayBuffer.sample``; not modified.
        rows: number of leading rows to reanalyse (``<= B``).
        model: network used for the new search (usually the target network).
        search: the search driver (its config sets the simulations).
        device: where the model lives.

    Returns:
        ``[B, K + 1, A]`` float32 policy targets: the new ones for the searched positions, the
        stored ones elsewhere.
    """
    policy = batch.target_policy.copy()
    if rows <= 0:
        return policy
    if batch.unroll_obs is None and batch.target_policy.shape[1] > 1:
        raise ValueError(
            "reanalysis needs the observations of every unroll position; sample the batch "
            "with ReplayBuffer.sample(..., with_unroll_obs=True)"
        )
    obs = batch.obs[:rows, None]
    if batch.target_policy.shape[1] > 1:
        obs = np.concatenate([obs, batch.unroll_obs[:rows]], axis=1)  # [R, K+1, *O]
    searched = batch.policy_mask[:rows] > 0  # [R, K+1]
    if not searched.any():
        return policy
    roots = as_device_tensor(obs[searched], device, torch.float32)
    legal = batch.action_masks[:rows][searched]
    to_play = batch.to_play[:rows][searched]
    result = search.search(
        model.initial_inference(roots), legal, to_play, add_exploration_noise=True
    )
    head = policy[:rows]
    head[searched] = result.policy_target.numpy()
    return policy
