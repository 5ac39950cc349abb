"""ReZero backward-view reanalysis (Xuan et al., 2024, "ReZero: Boosting MCTS-based
Algorithms by Backward-view and Entire-buffer Reanalyze").

A stored trajectory is reanalysed from its last step to its first. When step ``t`` is searched,
step ``t + 1`` has already been searched, so the root child for the action actually taken,
``a_t``, is given the searched root value of ``s_{t+1}`` and the true reward ``r_t``: it
becomes a fixed leaf, and simulations that select it need no network call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pipezero.mcts.muzero import MuZeroSearch
from pipezero.model.protocol import MuZeroModelProtocol


@dataclass
class BackwardReanalysis:
    """Search targets for a ``[T, B]`` block of trajectories.

    Attributes:
        visit_counts: ``[T, B, A]`` int64 root visit counts.
        policy_target: ``[T, B, A]`` float32 search policy (visit distribution, or Gumbel's
            improved policy).
        root_value: ``[T, B]`` float32 searched root values.
        num_network_calls: ``recurrent_inference`` calls over all ``T`` searches.
    """

    visit_counts: torch.Tensor
    policy_target: torch.Tensor
    root_value: torch.Tensor
    num_network_calls: int


@torch.inference_mode()
def reanalyze_backward(
    search: MuZeroSearch,
    model: MuZeroModelProtocol,
    observations: torch.Tensor,
    actions: torch.Tensor,
    rewards: torch.Tensor,
    legal_masks: torch.Tensor | None = None,
    to_play: torch.Tensor | None = None,
    bootstrap_value: torch.Tensor | None = None,
) -> BackwardReanalysis:
    """Search every step of ``B`` trajectories of length ``T``, last step first.

    Args:
        search: a MuZero-family driver (MuZero, EfficientZero or Gumbel).
        model: the model whose ``initial_inference`` encodes each step's observations.
        observations: ``[T, B, *O]`` observations ``s_0 .. s_{T-1}``.
        actions: ``[T, B]`` int64 actions taken at each step.
        rewards: ``[T, B]`` float rewards ``r_t`` received after ``a_t``.
        legal_masks: ``[T, B, A]`` bool, or None (all legal).
        to_play: ``[T, B]`` int players, or None (single-player).
        bootstrap_value: ``[B]`` value of ``s_T`` (0 when the episode ended there) from its
            player's point of view, reused for ``a_{T-1}``; None searches the last step in full.

    Returns:
        :class:`BackwardReanalysis` with the targets of every step, exploration noise off.
    """
    if observations.dim() < 2:
        raise ValueError(f"observations must have shape [T, B, *O], got {list(observations.shape)}")
    steps, batch = observations.shape[:2]
    if actions.shape != (steps, batch) or rewards.shape != (steps, batch):
        raise ValueError(
            f"actions and rewards must have shape [T, B] = [{steps}, {batch}] like the "
            f"observations, got {list(actions.shape)} and {list(rewards.shape)}"
        )
    visits, policies, values = [], [], []
    next_value = bootstrap_value
    calls = 0
    for t in reversed(range(steps)):
        root = model.initial_inference(observations[t])
        reuse = {}
        if next_value is not None:
            reuse = {
                "reuse_action": actions[t],
                "reuse_value": next_value,
                "reuse_reward": rewards[t],
            }
        result = search.search(
            root,
            None if legal_masks is None else legal_masks[t],
            None if to_play is None else to_play[t],
            add_exploration_noise=False,
            **reuse,
        )
        visits.append(result.visit_counts)
        policies.append(result.policy_target)
        values.append(result.root_value)
        calls += result.num_network_calls
        next_value = result.root_value
    return BackwardReanalysis(
        visit_counts=torch.stack(visits[::-1]),
        policy_target=torch.stack(policies[::-1]),
        root_value=torch.stack(values[::-1]),
        num_network_calls=calls,
    )
