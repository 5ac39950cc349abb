"""Sampled EfficientZero model for vector observations, continuous or discrete actions.

Sampled EfficientZero (Hubert et al., 2021, on top of Ye et al., 2021) searches over ``K``
actions sampled from the policy, so the model only has to (a) describe a distribution the
search can sample from and score, and (b) take a sampled action in its dynamics. Everything
else is :class:`~pipezero.model.efficientzero.EfficientZeroMLP`: representation, residual
latent dynamics, value-prefix LSTM, value head and the consistency heads.

Continuous actions (``continuous_action_space=True``, ``action_space_size = D``):

- policy head: a diagonal Gaussian over the *pre-tanh* action ``u``; ``policy_logits`` is
  ``[B, 2D]`` = ``(mean, log_std)``, ``log_std`` clamped to ``[min_log_std, max_log_std]``
  (``sigma_type="conditioned"``) or the constant ``log(fixed_sigma_value)``
  (``sigma_type="fixed"``). The action is ``a = tanh(u)`` in ``(-1, 1)^D``; the environment
  adapter rescales it to the action bounds. Density: :func:`pipezero.mcts.tanh_gaussian_log_prob`.
- dynamics: the action vector enters through a linear layer added to the latent projection
  (the continuous counterpart of the discrete action embedding).

Discrete actions (``continuous_action_space=False``, ``action_space_size = A``): categorical
``[B, A]`` logits and an embedding of the sampled index, exactly as EfficientZero; the search
samples ``K`` of the ``A`` actions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from pipezero.model.efficientzero import EfficientZeroMLP

SIGMA_TYPES = ("conditioned", "fixed")


class SampledEfficientZeroMLP(EfficientZeroMLP):
    """EfficientZero MLP with a Gaussian (tanh-squashed) or categorical policy head.

    Args:
        observation_shape: ``*O``.
        action_space_size: ``D`` (action dimension) for continuous actions, ``A`` (number of
            actions) for discrete ones.
        continuous_action_space: Gaussian policy over ``[-1, 1]^D`` (True) or categorical.
        sigma_type: ``"conditioned"`` (the head predicts the log std) or ``"fixed"``.
        fixed_sigma_value: the std of ``sigma_type="fixed"``.
        min_log_std, max_log_std: clamp of the predicted log std (pre-tanh units).
        **kwargs: every argument of :class:`EfficientZeroMLP` (``latent_dim``,
            ``hidden_dim``, ``support_size``, ``reward_support_size``, ``lstm_hidden_size``,
            ``projection_dim``, ...).

    Example:
        >>> model = SampledEfficientZeroMLP(3, 1, support_size=10, latent_dim=32)
        >>> out = model.initial_inference(torch.zeros(4, 3))
        >>> out.policy_logits.shape  # (mean, log_std)
        torch.Size([4, 2])
        >>> nxt = model.recurrent_inference(out.latent, torch.zeros(4, 1), out.hidden)
    """

    #: :func:`~pipezero.policy.muzero_build.build_muzero` passes
    #: ``continuous_action_space=envs.continuous``: the head follows the environment.
    continuous_from_env = True

    def __init__(
        self,
        observation_shape: int | Sequence[int],
        action_space_size: int,
        continuous_action_space: bool = True,
        sigma_type: str = "conditioned",
        fixed_sigma_value: float = 0.3,
        min_log_std: float = -5.0,
        max_log_std: float = 2.0,
        **kwargs: Any,
    ) -> None:
        if isinstance(action_space_size, bool) or not isinstance(action_space_size, int):
            raise ValueError(f"action_space_size must be a positive int, got {action_space_size!r}")
        if sigma_type not in SIGMA_TYPES:
            raise ValueError(f"sigma_type must be one of {SIGMA_TYPES}, got {sigma_type!r}")
        if not fixed_sigma_value > 0:
            raise ValueError(f"fixed_sigma_value must be > 0, got {fixed_sigma_value!r}")
        if not min_log_std < max_log_std:
            raise ValueError(
                f"need min_log_std < max_log_std, got {min_log_std!r} and {max_log_std!r}"
            )
        continuous = bool(continuous_action_space)
        policy_size = 2 * action_space_size if continuous else action_space_size
        super().__init__(observation_shape, policy_size, **kwargs)
        self.continuous_action_space = continuous
        #: ``D`` (continuous) or ``A`` (discrete)
        self.action_space_size = action_space_size
        #: width of ``policy_logits``: ``2D`` (mean, log std) or ``A``
        self.policy_size = policy_size
        self.sigma_type = sigma_type
        self.fixed_sigma_value = float(fixed_sigma_value)
        self.min_log_std = float(min_log_std)
        self.max_log_std = float(max_log_std)
        if continuous:
            hidden_dim = self.dyn_latent_in.out_features
            del self.dyn_action_embed  # built by MuZeroMLP for indices; unused here
            self.dyn_action_in = nn.Linear(action_space_size, hidden_dim, bias=False)

    def _transition(
        self, latent: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Next latent ``[B, D_l]`` and the rest of the dynamics output; ``action`` is ``[B]``
        int64 (discrete) or ``[B, D]`` float in ``[-1, 1]`` (continuous)."""
        if not self.continuous_action_space:
            return super()._transition(latent, action)
        act = action.reshape(latent.shape[0], -1).to(latent.dtype)
        x = self.dyn_latent_in(latent) + self.dyn_action_in(act)
        out = self.dyn_out(self.dyn_trunk(self.dyn_act(x)))
        d = self.latent_dim
        return self.latent_norm(latent + out[:, :d]), out[:, d:]

    def prediction(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents ``[B, D_l]`` -> ``(policy [B, P], value_logits [B, 2S + 1])``, where the
        policy is ``(mean, log_std)`` ``[B, 2D]`` or categorical logits ``[B, A]``."""
        out = self.pred_out(self.pred_trunk(latent))
        p = self.policy_size
        policy, value_logits = out[:, :p], out[:, p:]
        if self.continuous_action_space:
            d = self.action_space_size
            mean = policy[:, :d]
            if self.sigma_type == "fixed":
                log_std = torch.full_like(mean, math.log(self.fixed_sigma_value))
            else:
                log_std = policy[:, d:].clamp(self.min_log_std, self.max_log_std)
            policy = torch.cat([mean, log_std], dim=1)
        return policy, value_logits

    def extra_repr(self) -> str:
        kind = "continuous" if self.continuous_action_space else "discrete"
        return f"{kind}, action_space_size={self.action_space_size}, sigma_type={self.sigma_type!r}"
