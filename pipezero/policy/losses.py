"""Loss pieces of the MuZero family: cross-entropies on supports, gradient scaling.

Shapes use ``B`` for the batch, ``K`` for ``num_unroll_steps``, ``A`` for actions and ``S``
for the number of support bins.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipezero.model.support import DiscreteSupport


def scale_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Identity in the forward pass; multiplies the gradient flowing back by ``scale``.

    MuZero (appendix G) halves the gradient entering the dynamics at every unroll step so
    that the total gradient reaching the representation stays bounded however long the
    unroll.
    """
    return x * scale + x.detach() * (1.0 - scale)


def soft_cross_entropy(logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """``-sum_i p_i log softmax(logits)_i`` over the last dimension.

    Args:
        logits: ``[*, C]``.
        target_probs: ``[*, C]`` target distribution (rows may be all zero: loss 0).

    Returns:
        ``[*]`` float32 cross-entropy.
    """
    if logits.shape != target_probs.shape:
        raise ValueError(
            f"logits and target must have the same shape, got {tuple(logits.shape)} and "
            f"{tuple(target_probs.shape)}"
        )
    # float32 also under mixed precision: bf16 log-probabilities of peaked targets are coarse
    return -(target_probs.float() * F.log_softmax(logits.float(), dim=-1)).sum(dim=-1)


def support_cross_entropy(
    logits: torch.Tensor, scalars: torch.Tensor, support: DiscreteSupport
) -> torch.Tensor:
    """Cross-entropy between categorical logits and the two-hot encoding of scalar targets.

    Args:
        logits: ``[*, 2S + 1]`` value or reward logits.
        scalars: ``[*]`` targets in game units (transformed and two-hot encoded here).
        support: the support the logits are defined on.

    Returns:
        ``[*]`` cross-entropy.
    """
    return soft_cross_entropy(logits, support.scalar_to_probs(scalars.detach()))


def unroll_step_weights(num_unroll_steps: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[K + 1]`` loss weights of the unroll positions: 1 for the root, ``1 / K`` after.

    The MuZero pseudocode scales the loss of every recurrent step by ``1 / K`` so that the
    unrolled part weighs as much as the root, whatever ``K``.
    """
    weights = torch.ones(num_unroll_steps + 1, device=device)
    if num_unroll_steps > 0:
        weights[1:] = 1.0 / num_unroll_steps
    return weights
