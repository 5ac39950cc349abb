"""Action samplers for Sampled MuZero (Hubert et al., 2021, "Learning and planning in
complex action spaces").

A sampler turns the policy's distribution parameters into ``K`` actions per node and reports,
for each, its log-probability under the policy ``pi`` and under the distribution ``beta`` it
was drawn from, and how many of the ``K`` draws it stands for. The search uses the
importance-corrected prior ``(beta_hat / beta) * pi``, where ``beta_hat`` is the empirical
distribution of the draws; when ``beta = pi`` this is ``beta_hat`` itself.

Samplers "with the prior" draw from the policy itself (``beta = pi``: :class:`CategoricalSampler`
with ``temperature=1``, :class:`GaussianSampler` with ``std_scale=1``); samplers "without the
prior" draw from a distribution that ignores it (``CategoricalSampler(math.inf)``: uniform over
the legal actions; :class:`UniformBoxSampler`: uniform over ``[-1, 1]^D``), and the prior
correction ``pi / beta`` keeps the search's prior equal to ``pi`` in expectation.

Continuous policies may be *tanh-squashed* (``squash=True``): ``u ~ N(mean, std)``, action
``a = tanh(u)`` in ``(-1, 1)^D``, density
``log pi(a) = log N(u; mean, std) - sum_d log(1 - tanh(u_d)^2)`` (Haarnoja et al., 2018).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F


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
    ``K`` distinct children. ``temperature = 1`` samples from the policy itself;
    ``temperature = math.inf`` samples uniformly among the legal actions (without the prior).
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
        if math.isinf(self.temperature):
            log_beta_all = torch.log_softmax(torch.where(logits > -math.inf, 0.0, -math.inf), 1)
        else:
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
    ``> 1`` explores wider and the priors are importance-corrected). With ``squash=True`` the
    Gaussian is over the pre-tanh ``u`` and the actions are ``tanh(u)`` in ``(-1, 1)^D``;
    ``log_pi`` and ``log_beta`` are then densities of the squashed actions.
    """

    def __init__(
        self,
        std_scale: float = 1.0,
        min_log_std: float = -5.0,
        max_log_std: float = 2.0,
        squash: bool = False,
    ) -> None:
        if not std_scale > 0:
            raise ValueError(f"GaussianSampler: std_scale must be > 0, got {std_scale}")
        if not min_log_std < max_log_std:
            raise ValueError(
                f"GaussianSampler: need min_log_std < max_log_std, got {min_log_std} and "
                f"{max_log_std}"
            )
        self.std_scale = std_scale
        self.min_log_std = min_log_std
        self.max_log_std = max_log_std
        self.squash = squash

    def sample(
        self,
        policy_params: torch.Tensor,
        num_samples: int,
        legal_mask: torch.Tensor | None,
        generator: torch.Generator,
    ) -> SampledActions:
        """Args: ``policy_params`` ``[M, 2D]``; ``legal_mask`` must be None (continuous)."""
        mean, log_std = _gaussian_params(
            "GaussianSampler", policy_params, legal_mask, self.min_log_std, self.max_log_std
        )
        noise = torch.randn(
            (mean.shape[0], num_samples, mean.shape[2]),
            generator=generator,
            dtype=mean.dtype,
            device=mean.device,
        )
        u = mean + self.std_scale * log_std.exp() * noise
        log_pi = normal_log_prob(u, mean, log_std)
        log_beta = normal_log_prob(u, mean, log_std + math.log(self.std_scale))
        actions = u
        if self.squash:
            actions = torch.tanh(u)
            correction = tanh_log_det_jacobian(u)
            log_pi, log_beta = log_pi - correction, log_beta - correction
        return SampledActions(
            actions=actions,
            log_pi=log_pi,
            log_beta=log_beta,
            counts=torch.ones(actions.shape[:2], dtype=mean.dtype, device=mean.device),
        )


class UniformBoxSampler:
    """Samples continuous actions uniformly in ``[-1, 1]^D``: sampling *without* the prior.

    ``beta`` is the uniform density ``2^-D``; ``log_pi`` is the policy's density of each
    action (a Gaussian over ``[M, 2D]`` means and log stds, tanh-squashed when ``squash``).
    The importance-corrected prior ``beta_hat / beta * pi`` is then proportional to ``pi``
    at the drawn actions.
    """

    def __init__(
        self, min_log_std: float = -5.0, max_log_std: float = 2.0, squash: bool = True
    ) -> None:
        self.min_log_std = min_log_std
        self.max_log_std = max_log_std
        self.squash = squash

    def sample(
        self,
        policy_params: torch.Tensor,
        num_samples: int,
        legal_mask: torch.Tensor | None,
        generator: torch.Generator,
    ) -> SampledActions:
        """Args: ``policy_params`` ``[M, 2D]``; ``legal_mask`` must be None (continuous)."""
        mean, log_std = _gaussian_params(
            "UniformBoxSampler", policy_params, legal_mask, self.min_log_std, self.max_log_std
        )
        m, dim = mean.shape[0], mean.shape[2]
        unit = torch.rand((m, num_samples, dim), generator=generator, dtype=mean.dtype)
        actions = (unit.to(mean.device) * 2.0 - 1.0).clamp(-1.0 + 1e-6, 1.0 - 1e-6)
        if self.squash:
            log_pi = tanh_gaussian_log_prob(actions, mean, log_std)
        else:
            log_pi = normal_log_prob(actions, mean, log_std)
        return SampledActions(
            actions=actions,
            log_pi=log_pi,
            log_beta=torch.full_like(log_pi, -dim * math.log(2.0)),
            counts=torch.ones((m, num_samples), dtype=mean.dtype, device=mean.device),
        )


def _gaussian_params(
    name: str,
    policy_params: torch.Tensor,
    legal_mask: torch.Tensor | None,
    min_log_std: float,
    max_log_std: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean [M, 1, D], clamped log_std [M, 1, D])`` from ``[M, 2D]`` parameters."""
    if legal_mask is not None:
        raise ValueError(f"{name}: continuous actions take no legal_mask, got one")
    params = policy_params.float()
    if params.dim() != 2 or params.shape[1] % 2:
        raise ValueError(
            f"{name}: policy_params must be [M, 2D] (means, log stds), got {list(params.shape)}"
        )
    dim = params.shape[1] // 2
    return params[:, None, :dim], params[:, None, dim:].clamp(min_log_std, max_log_std)


def normal_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Log density of a diagonal Gaussian at ``x [..., D]``, summed over the last dimension."""
    z = (x - mean) * torch.exp(-log_std)
    return (-0.5 * z * z - log_std - 0.5 * math.log(2 * math.pi)).sum(dim=-1)


def tanh_log_det_jacobian(u: torch.Tensor) -> torch.Tensor:
    """``sum_d log(1 - tanh(u_d)^2)`` over the last dimension, computed stably as
    ``2 (log 2 - u - softplus(-2u))``."""
    return (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(dim=-1)


#: actions are clamped this far inside ``(-1, 1)`` before ``atanh`` (float32 rounds
#: ``tanh(u)`` to exactly 1 for ``|u| > 9``)
TANH_EPS = 1e-6


def tanh_gaussian_log_prob(
    actions: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor
) -> torch.Tensor:
    """Log density of tanh-squashed actions ``a = tanh(u)``, ``u ~ N(mean, exp(log_std))``.

    Args:
        actions: ``[..., D]`` in ``(-1, 1)`` (clamped to ``1 - TANH_EPS`` in magnitude).
        mean, log_std: broadcastable to ``actions``.

    Returns:
        ``[...]``: ``log N(atanh(a); mean, std) - sum_d log(1 - a_d^2)``.
    """
    a = actions.clamp(-1.0 + TANH_EPS, 1.0 - TANH_EPS)
    u = torch.atanh(a)
    return normal_log_prob(u, mean, log_std) - tanh_log_det_jacobian(u)
