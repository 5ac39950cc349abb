"""Action samplers for Sampled MuZero (Hubert et al., 2021, "Learning and planning in
complex action spaces").

A sampler turns the policy's distribution parameters into ``K`` actions per node and reports,
for each, its log-probability under the policy ``pi`` and under the distribution ``beta`` it
was drawn from, and how many of the ``K`` draws it stands for. The search uses the
importance-corrected prior ``(beta_hat / beta) * pi``, where ``beta_hat`` is the empirical
distribution of the draws; when ``beta = pi`` this is ``beta_hat`` itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch


@dataclass
class SampledActions:
    """``K`` sampled actions for each of ``M`` nodes.

    Attributes:
        actions: ``[M, K, D]`` float (continuous) or ``[M, K]`` int64 (discrete).
        log_pi: ``[M, K]`` log-probability (density) of each action under the policy.
        log_beta: ``[M, K]`` log-probability (density) under the sampling distribution.
        counts: ``[M, K]`` float how many of the ``K`` draws each slot stands for; 0 marks an
            empty slot (a repeated discrete draw merged into an earlier slot).
    """

    actions: torch.Tensor
    log_pi: torch.Tensor
    log_beta: torch.Tensor
    counts: torch.Tensor


class ActionSampler(Protocol):
    """Draws ``num_samples`` actions per row from policy parameters ``[M, P]``."""

    def sample(
        self,
        policy_params: torch.Tensor,
        num_samples: int,
        legal_mask: torch.Tensor | None,
        generator: torch.Generator,
    ) -> SampledActions: ...


def importance_prior_logits(sampled: SampledActions) -> tuple[torch.Tensor, torch.Tensor]:
    """Log of the importance-corrected prior ``beta_hat / beta * pi`` and the slot mask.

    Returns:
        ``(logits [M, K] float32, mask [M, K] bool)``; logits are unnormalised (the core
        applies a masked softmax) and 0 in empty slots.
    """
    counts = sampled.counts
    mask = counts > 0
    total = counts.sum(dim=1, keepdim=True)
    log_beta_hat = torch.log(torch.where(mask, counts / total, torch.ones_like(counts)))
    logits = log_beta_hat + sampled.log_pi - sampled.log_beta
    return torch.where(mask, logits, torch.zeros_like(logits)).float(), mask


class CategoricalSampler:
    """Samples discrete actions with replacement from ``beta = softmax(logits / temperature)``.

    Repeated draws are merged into one slot whose count is their number, so a node has at most
    ``K`` distinct children. ``temperature = 1`` samples from the policy itself.
    """

    def __init__(self, temperature: float = 1.0) -> None:
        if not temperature > 0:
            raise ValueError(f"CategoricalSampler: temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def sample(
        self,
        policy_params: torch.Tensor,
        num_samples: int,
        legal_mask: torch.Tensor | None,
        generator: torch.Generator,
    ) -> SampledActions:
        """Args: ``policy_params`` ``[M, A]`` logits; ``legal_mask`` ``[M, A]`` bool or None."""
        logits = policy_params.float()
        if legal_mask is not None:
            logits = logits.masked_fill(~legal_mask, -math.inf)
        log_pi_all = torch.log_softmax(logits, dim=1)
        log_beta_all = torch.log_softmax(logits / self.temperature, dim=1)
        draws = torch.multinomial(
            log_beta_all.exp(), num_samples, replacement=True, generator=generator
        )
        actions, _ = draws.sort(dim=1)
        first = torch.ones_like(actions, dtype=torch.bool)
        first[:, 1:] = actions[:, 1:] != actions[:, :-1]
        ones = torch.ones(draws.shape, dtype=logits.dtype, device=logits.device)
        per_action = torch.zeros_like(logits).scatter_add_(1, draws, ones)
        counts = per_action.gather(1, actions) * first
        return SampledActions(
            actions=actions,
            log_pi=log_pi_all.gather(1, actions),
            log_beta=log_beta_all.gather(1, actions),
            counts=counts,
        )


class GaussianSampler:
    """Samples continuous actions from a diagonal Gaussian policy.

    The policy parameters are ``[M, 2D]``: means then log standard deviations (clamped to
    ``[min_log_std, max_log_std]``). Actions are drawn from ``beta``, the same Gaussian with
    its standard deviation multiplied by ``std_scale`` (``1`` samples from ``pi`` itself;
    ``> 1`` explores wider and the priors are importance-corrected).
    """

    def __init__(
        self, std_scale: float = 1.0, min_log_std: float = -5.0, max_log_std: float = 2.0
    ) -> None:
        if not std_scale > 0:
            raise ValueError(f"GaussianSampler: std_scale must be > 0, got {std_scale}")
        self.std_scale = std_scale
        self.min_log_std = min_log_std
        self.max_log_std = max_log_std

    def sample(
        self,
        policy_params: torch.Tensor,
        num_samples: int,
        legal_mask: torch.Tensor | None,
        generator: torch.Generator,
    ) -> SampledActions:
        """Args: ``policy_params`` ``[M, 2D]``; ``legal_mask`` must be None (continuous)."""
        if legal_mask is not None:
            raise ValueError("GaussianSampler: continuous actions take no legal_mask, got one")
        params = policy_params.float()
        if params.dim() != 2 or params.shape[1] % 2:
            raise ValueError(
                f"GaussianSampler: policy_params must be [M, 2D] (means, log stds), "
                f"got {list(params.shape)}"
            )
        dim = params.shape[1] // 2
        mean = params[:, None, :dim]
        log_std = params[:, None, dim:].clamp(self.min_log_std, self.max_log_std)
        std = log_std.exp()
        noise = torch.randn(
            (params.shape[0], num_samples, dim),
            generator=generator,
            dtype=params.dtype,
            device=params.device,
        )
        actions = mean + self.std_scale * std * noise
        return SampledActions(
            actions=actions,
            log_pi=_normal_log_prob(actions, mean, log_std),
            log_beta=_normal_log_prob(actions, mean, log_std + math.log(self.std_scale)),
            counts=torch.ones(actions.shape[:2], dtype=params.dtype, device=params.device),
        )


def _normal_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Log density of a diagonal Gaussian, summed over the last dimension."""
    z = (x - mean) * torch.exp(-log_std)
    return (-0.5 * z * z - log_std - 0.5 * math.log(2 * math.pi)).sum(dim=-1)
