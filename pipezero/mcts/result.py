"""What a search returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SearchResult:
    """Root statistics of one batched search (``B`` trees, ``A`` child slots).

    For Sampled MuZero the ``A`` slots are the ``K`` sampled actions of each root, listed in
    :attr:`sampled_actions`.

    Attributes:
        visit_counts: ``[B, A]`` int64 visits of each root child (sums to ``num_simulations``).
        root_value: ``[B]`` float32 mean value of the root from its player's point of view
            (the root's own network value counts as its first visit).
        policy_target: ``[B, A]`` float32 training target: normalised visit counts for PUCT
            searches, the completed-Q improved policy for Gumbel MuZero.
        q_values: ``[B, A]`` float32 ``Q(root, a) = r + gamma * v(child)`` from the root's point
            of view; NaN for unvisited children.
        improved_policy: Gumbel MuZero only, ``[B, A]`` float32
            ``softmax(logits + sigma(completed Q))``.
        action: Gumbel MuZero only, ``[B]`` int64 action selected by sequential halving.
        sampled_actions: Sampled MuZero only, the root's ``K`` actions: ``[B, K, D]`` float
            (continuous) or ``[B, K]`` int64 (discrete).
        num_network_calls: ``recurrent_inference`` calls made by this search (at most one per
            simulation; fewer when ReZero reuse or terminal states made a call unnecessary).
        num_leaf_evaluations: leaves evaluated over all those calls (at most ``B`` per call).
    """

    visit_counts: torch.Tensor
    root_value: torch.Tensor
    policy_target: torch.Tensor
    q_values: torch.Tensor
    improved_policy: torch.Tensor | None = None
    action: torch.Tensor | None = None
    sampled_actions: torch.Tensor | None = None
    num_network_calls: int = 0
    num_leaf_evaluations: int = 0
