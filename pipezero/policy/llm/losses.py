"""Losses of the on-policy LLM trainers. Every per-token tensor is ``[B, L]`` with a ``mask``
of the tokens that take part (the generated ones)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "approx_kl",
    "clipped_value_loss",
    "entropy_from_logits",
    "kl_to_base",
    "masked_mean",
    "ppo_policy_loss",
    "token_logprobs",
]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``mask`` (0 when none)."""
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp(min=1.0)


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)[target]``: ``logits [B, L, V]``, ``targets [B, L]`` -> ``[B, L]``."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of each next-token distribution: ``[B, L, V] -> [B, L]``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def approx_kl(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Estimate of ``KL(old || new)``: mean of ``(ratio - 1) - log ratio`` (non-negative)."""
    log_ratio = logprobs - old_logprobs
    return masked_mean(log_ratio.exp() - 1.0 - log_ratio, mask)


def ppo_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped surrogate ``-min(ratio * A, clip(ratio, 1 - clip, 1 + clip) * A)``, averaged
    over the masked tokens; ``ratio = exp(logprobs - old_logprobs)`` per token.

    Returns:
        ``(loss, stats)`` with ``clipfrac`` (share of tokens whose ratio left the range).
    """
    ratio = (logprobs - old_logprobs).exp()
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip, 1.0 + clip) * advantages
    loss = masked_mean(-torch.min(unclipped, clipped), mask)
    with torch.no_grad():
        clipfrac = masked_mean(((ratio - 1.0).abs() > clip).float(), mask)
    return loss, {"clipfrac": float(clipfrac)}


def clipped_value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip: float,
    huber_delta: float = 1.0,
) -> torch.Tensor:
    """``max(huber(V, R), huber(V_old + clip(V - V_old, -clip, clip), R))`` averaged over
    ``mask``: the new value may not profit from moving more than ``clip`` from the old one."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    loss = torch.max(
        F.huber_loss(values, returns, reduction="none", delta=huber_delta),
        F.huber_loss(clipped, returns, reduction="none", delta=huber_delta),
    )
    return masked_mean(loss, mask)


def kl_to_base(
    logprobs: torch.Tensor, base_logprobs: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Estimate of ``KL(policy || base)`` on the sampled tokens (the non-negative "k3"
    estimator ``exp(b - p) - (b - p) - 1``), averaged over ``mask``."""
    d = base_logprobs - logprobs
    return masked_mean(d.exp() - d - 1.0, mask)
