"""Policy loss of Sampled MuZero / EfficientZero over the ``Ks`` actions sampled at a root.

The search at a root sampled ``Ks`` actions ``a_1 .. a_Ks`` from ``beta`` and searched them
with the importance-corrected prior ``(beta_hat / beta) * pi`` (Hubert et al., 2021; see
:func:`pipezero.mcts.importance_prior_logits`). Its normalised visit counts ``t_k`` are the
sample-based improved policy ``(beta_hat / beta) I pi``, whose expectation over the draws is
the improved policy ``I pi`` itself. The network is therefore trained on those samples alone:

    cross_entropy:  L = - sum_k t_k log pi(a_k)
    KL:             L =   sum_k t_k (log t_k - log pi(a_k))     (same gradient)

``log pi(a_k)`` is the tanh-squashed Gaussian density of a continuous action, or the
log-softmax of a discrete one. ``normalize_prob_of_sampled_actions`` first renormalises
``pi`` over the distinct sampled actions (a categorical over the ``Ks`` slots).

Shapes: ``*`` leading dimensions (``[B, K + 1]`` in training), ``Ks`` sampled actions,
``D`` action dimension, ``P`` policy parameters (``2D`` or ``A``).
"""

from __future__ import annotations

import math

import torch

from pipezero.mcts import tanh_gaussian_log_prob

POLICY_LOSS_TYPES = ("cross_entropy", "KL")


def split_gaussian(
    policy_params: torch.Tensor, min_log_std: float, max_log_std: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean [*, D], log_std [*, D])`` of ``[*, 2D]`` parameters, log std clamped."""
    d = policy_params.shape[-1] // 2
    return policy_params[..., :d], policy_params[..., d:].clamp(min_log_std, max_log_std)


def sampled_action_log_probs(
    policy_params: torch.Tensor,
    sampled_actions: torch.Tensor,
    continuous: bool,
    min_log_std: float = -5.0,
    max_log_std: float = 2.0,
) -> torch.Tensor:
    """``log pi(a_k)`` of each sampled action under the policy parameters.

    Args:
        policy_params: ``[*, 2D]`` (means, log stds of the pre-tanh Gaussian) or ``[*, A]``
            logits.
        sampled_actions: ``[*, Ks, D]`` float in ``(-1, 1)`` or ``[*, Ks]`` int64 indices.
        continuous: which of the two.
        min_log_std, max_log_std: log std clamp (continuous).

    Returns:
        ``[*, Ks]`` log densities (continuous) or log probabilities (discrete).
    """
    if continuous:
        mean, log_std = split_gaussian(policy_params.float(), min_log_std, max_log_std)
        return tanh_gaussian_log_prob(
            sampled_actions.float(), mean.unsqueeze(-2), log_std.unsqueeze(-2)
        )
    log_p = torch.log_softmax(policy_params.float(), dim=-1)
    return log_p.gather(-1, sampled_actions.long())


def distinct_slots(sampled_actions: torch.Tensor, continuous: bool) -> torch.Tensor:
    """``[*, Ks]`` bool: slots holding a distinct action.

    Continuous draws are all distinct. Discrete draws are sorted by the sampler and repeats
    are merged into the first slot, so a slot equal to its left neighbour is empty.
    """
    if continuous:
        return torch.ones(
            sampled_actions.shape[:-1], dtype=torch.bool, device=sampled_actions.device
        )
    first = torch.ones_like(sampled_actions, dtype=torch.bool)
    first[..., 1:] = sampled_actions[..., 1:] != sampled_actions[..., :-1]
    return first


def sampled_policy_loss(
    log_pi: torch.Tensor,
    target: torch.Tensor,
    slot_mask: torch.Tensor,
    policy_loss_type: str = "cross_entropy",
    normalize: bool = False,
) -> torch.Tensor:
    """Loss of the policy on the visit distribution over the sampled actions.

    Args:
        log_pi: ``[*, Ks]`` from :func:`sampled_action_log_probs`.
        target: ``[*, Ks]`` visit distribution over the slots (rows may be all zero: loss 0).
        slot_mask: ``[*, Ks]`` bool distinct slots (:func:`distinct_slots`).
        policy_loss_type: ``"cross_entropy"`` or ``"KL"``.
        normalize: renormalise ``pi`` over the distinct sampled actions first.

    Returns:
        ``[*]`` loss.
    """
    if policy_loss_type not in POLICY_LOSS_TYPES:
        raise ValueError(
            f"policy_loss_type must be one of {POLICY_LOSS_TYPES}, got {policy_loss_type!r}"
        )
    if log_pi.shape != target.shape or slot_mask.shape != target.shape:
        raise ValueError(
            f"log_pi, target and slot_mask must have the same shape [*, Ks], got "
            f"{list(log_pi.shape)}, {list(target.shape)} and {list(slot_mask.shape)}"
        )
    if normalize:
        masked = log_pi.masked_fill(~slot_mask, -math.inf)
        log_pi = masked - torch.logsumexp(masked, dim=-1, keepdim=True)
    weight = target * slot_mask
    loss = -(weight * torch.where(slot_mask, log_pi, torch.zeros_like(log_pi))).sum(-1)
    if policy_loss_type == "KL":
        log_t = torch.log(torch.where(weight > 0, weight, torch.ones_like(weight)))
        loss = loss + (weight * log_t).sum(-1)
    return loss


def policy_entropy(
    policy_params: torch.Tensor,
    continuous: bool,
    min_log_std: float = -5.0,
    max_log_std: float = 2.0,
) -> torch.Tensor:
    """``[*]`` entropy of the policy: of the pre-tanh Gaussian
    (``sum_d 0.5 log(2 pi e) + log_std_d``; the tanh term has no closed form) or of the
    categorical."""
    if continuous:
        _, log_std = split_gaussian(policy_params.float(), min_log_std, max_log_std)
        return (0.5 * math.log(2 * math.pi * math.e) + log_std).sum(-1)
    log_p = torch.log_softmax(policy_params.float(), dim=-1)
    return -(log_p.exp() * log_p).sum(-1)
