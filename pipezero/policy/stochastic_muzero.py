"""Stochastic MuZero policy (Antonoglou et al., 2022): MuZero with afterstates and chance codes.

What changes from :class:`~pipezero.policy.muzero.MuZeroPolicy`:

- the search is :class:`~pipezero.mcts.StochasticMuZeroSearch` (decision and chance nodes,
  expectation over chance codes); the model is a
  :class:`~pipezero.model.stochastic.StochasticMuZeroMLP`;
- the unroll alternates the two halves of an environment step: for ``k = 0 .. K - 1``,
  ``as_k = phi(s_k, a_k)`` (afterstate dynamics) and ``s_{k+1}, r_{k+1} = g(as_k, c_k)``
  where ``c_k`` is the VQ encoder's code of ``(o_{t+k}, o_{t+k+1})`` entering the dynamics
  as a one-hot with a straight-through gradient; with a model built with
  ``afterstate_reward=True`` the reward of step ``k`` comes from ``phi(s_k, a_k)`` instead
  (:meth:`~pipezero.model.stochastic.StochasticMuZeroMLP.afterstate_transition`);
- ``eval_num_simulations`` (optional) gives the evaluation search its own number of
  simulations;
- losses added to MuZero's (policy, value, reward on the states):

  - afterstate value: ``Q(as_k)`` towards the same n-step target ``z_{t+k}`` as the state's
    value (the return of taking ``a_k``), or ``z_{t+k} - r_{t+k}`` when the model predicts
    the reward on the afterstate (``afterstate_reward``), weight
    ``afterstate_value_loss_weight``;
  - chance: cross-entropy of the afterstate's chance logits ``sigma_k`` against the
    (detached) code ``c_k``, weight ``chance_loss_weight``;
  - commitment: ``||softmax(e(o_{t+k}, o_{t+k+1})) - one_hot(c_k)||^2``, weight
    ``commitment_loss_weight``;

  - code usage: ``log C - H(mean_batch softmax(e))``, weight ``code_usage_loss_weight``;
    it keeps the encoder from collapsing onto one code (the commitment loss alone pulls
    every outcome towards the most frequent code);

  the afterstate losses use the unroll weights ``1 / K``; chance and commitment are masked
  where ``o_{t+k+1}`` is past the episode's end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pipezero.data.batch import Batch
from pipezero.data.transfer import DeviceBatch
from pipezero.mcts import MuZeroSearch
from pipezero.mcts.stochastic import StochasticMuZeroSearch
from pipezero.policy.base import LearnResult
from pipezero.policy.losses import (
    scale_gradient,
    soft_cross_entropy,
    support_cross_entropy,
    unroll_step_weights,
)
from pipezero.policy.muzero import MuZeroPolicy, Unroll
from pipezero.policy.stochastic_muzero_config import STOCHASTIC_MUZERO_CONFIG
from pipezero.policy.targets import UnrollTargets


@dataclass
class StochasticUnroll(Unroll):
    """MuZero's :class:`Unroll` plus the afterstate and chance-code outputs.

    Attributes:
        afterstate_value_logits: ``[B, K, 2S + 1]`` value logits of ``as_0 .. as_{K-1}``.
        chance_logits: ``[B, K, C]`` chance-code logits ``sigma`` of the afterstates.
        chance_codes: ``[B, K]`` int64 encoder codes ``c_k``.
        chance_probs: ``[B, K, C]`` encoder softmax (for the commitment loss).
    """

    afterstate_value_logits: torch.Tensor | None = None
    chance_logits: torch.Tensor | None = None
    chance_codes: torch.Tensor | None = None
    chance_probs: torch.Tensor | None = None


class StochasticMuZeroPolicy(MuZeroPolicy):
    """Stochastic MuZero acting and learning; arguments as :class:`MuZeroPolicy`, with a
    model that has ``afterstate_dynamics``, ``afterstate_prediction``, ``encode_chance`` and
    ``stochastic_recurrent_inference`` (e.g. ``StochasticMuZeroMLP``)."""

    default_config: Mapping[str, Any] = STOCHASTIC_MUZERO_CONFIG["policy"]
    search_class: type[MuZeroSearch] = StochasticMuZeroSearch

    def __init__(self, cfg: Mapping[str, Any], model: torch.nn.Module, **kwargs: Any) -> None:
        for name in ("afterstate_dynamics", "encode_chance", "stochastic_recurrent_inference"):
            if not hasattr(model, name):
                raise TypeError(
                    f"StochasticMuZeroPolicy needs a Stochastic MuZero model (afterstates and "
                    f"a chance encoder), such as StochasticMuZeroMLP; {type(model).__name__} "
                    f"has no {name!r}"
                )
        super().__init__(cfg, model, **kwargs)
        self._unroll_obs: torch.Tensor | None = None

    @property
    def needs_unroll_obs(self) -> bool:
        """Always: the chance encoder reads the observations along the unroll."""
        return True

    def learn(self, batch: Batch[np.ndarray] | DeviceBatch) -> LearnResult:
        """One gradient update; ``batch`` must hold ``unroll_obs`` (``with_unroll_obs=True``)."""
        host = batch.host if isinstance(batch, DeviceBatch) else batch
        if self.cfg.num_unroll_steps > 0 and host.unroll_obs is None:
            raise ValueError(
                "Stochastic MuZero's chance encoder needs the observations along the unroll; "
                "sample the batch with ReplayBuffer.sample(..., with_unroll_obs=True)"
            )
        return super().learn(batch)

    def forward_losses(
        self, batch: DeviceBatch, targets: UnrollTargets
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """:meth:`MuZeroPolicy.forward_losses`, which calls ``unroll(obs, actions)``; the
        encoder also needs the next observations (of the batch as augmented), handed over
        here for the duration of this forward pass."""
        if batch.tensors.unroll_obs is not None:
            self._unroll_obs = batch.tensors.unroll_obs.float()
        try:
            return super().forward_losses(batch, targets)
        finally:
            self._unroll_obs = None

    def unroll(self, obs: torch.Tensor, actions: torch.Tensor) -> StochasticUnroll:
        """Alternate afterstate dynamics and dynamics along the stored actions and the
        encoder's codes: ``obs [B, *O]``, ``actions [B, K]``."""
        model = self.model
        scale = float(self.cfg.dynamics_gradient_scale)
        b, k = actions.shape
        latent = model.representation(obs)
        latents, afters, reward_logits = [latent], [], []
        codes = probs = one_hot = None
        if k > 0:
            if self._unroll_obs is None:
                raise ValueError("unroll needs the next observations; call learn(batch)")
            nxt = self._unroll_obs  # [B, K, *O]
            prev = torch.cat([obs[:, None], nxt[:, :-1]], dim=1)
            codes, one_hot, probs = model.encode_chance(prev.flatten(0, 1), nxt.flatten(0, 1))
            codes, one_hot, probs = codes.view(b, k), one_hot.view(b, k, -1), probs.view(b, k, -1)
        # The reward of step k comes from phi(s_k, a_k) with afterstate_reward, else g(as_k, c_k).
        after_reward = bool(getattr(model, "afterstate_reward", False))
        for step in range(k):
            state = scale_gradient(latent, scale)
            if after_reward:
                after, logits = model.afterstate_transition(state, actions[:, step])
                latent, _ = model.dynamics(after, one_hot[:, step])  # type: ignore[index]
            else:
                after = model.afterstate_dynamics(state, actions[:, step])
                latent, logits = model.dynamics(after, one_hot[:, step])  # type: ignore[index]
            afters.append(after)
            latents.append(latent)
            reward_logits.append(logits)
        stacked = torch.stack(latents, dim=1)  # [B, K + 1, D]
        policy_logits, value_logits = model.prediction(stacked.flatten(0, 1))
        if k > 0:
            chance_logits, after_values = model.afterstate_prediction(
                torch.stack(afters, dim=1).flatten(0, 1)
            )
            chance_logits = chance_logits.view(b, k, -1)
            after_values = after_values.view(b, k, -1)
            rewards = torch.stack(reward_logits, dim=1)
        else:
            chance_logits = value_logits.new_zeros(b, 0, model.chance_space_size)
            after_values = value_logits.new_zeros(b, 0, model.value_support.size)
            rewards = value_logits.new_zeros(b, 0, model.reward_support.size)
        return StochasticUnroll(
            latents=stacked,
            policy_logits=policy_logits.view(b, k + 1, -1),
            value_logits=value_logits.view(b, k + 1, -1),
            reward_logits=rewards,
            afterstate_value_logits=after_values,
            chance_logits=chance_logits,
            chance_codes=codes,
            chance_probs=probs,
        )

    def afterstate_value_targets(self, targets: UnrollTargets, k: int) -> torch.Tensor:
        """``[B, K]`` targets of ``Q(as_0 .. as_{K-1})``.

        The afterstate's value is what the tree adds to the reward on the edge into it: the
        n-step return ``z_{t+k}`` when the reward sits on the chance edges (it is earned after
        the afterstate), and ``z_{t+k} - r_{t+k}`` with ``afterstate_reward`` (the move's
        reward is already on the edge into the afterstate; counting it in the value too
        would count it twice).
        """
        value = targets.value[:, :k]
        if getattr(self.model, "afterstate_reward", False):
            value = value - targets.reward[:, :k] * targets.reward_mask[:, :k]
        return value

    def losses(
        self, unroll: Unroll, targets: UnrollTargets, batch: DeviceBatch
    ) -> dict[str, torch.Tensor]:
        """MuZero's losses plus ``afterstate_value_loss``, ``chance_loss`` and
        ``commitment_loss`` (each ``[B]``, see the module doc)."""
        out = super().losses(unroll, targets, batch)
        assert isinstance(unroll, StochasticUnroll)
        k = unroll.reward_logits.shape[1]
        if k == 0:
            return out
        c = self.cfg
        w = unroll_step_weights(k, self.device)[1:]
        after_ce = support_cross_entropy(
            unroll.afterstate_value_logits,
            self.afterstate_value_targets(targets, k),
            self.model.value_support,
        )
        out["afterstate_value_loss"] = (after_ce * targets.value_mask[:, :k] * w).sum(1)
        mask = batch.tensors.unroll_obs_mask.float()
        codes = unroll.chance_codes
        hard = torch.nn.functional.one_hot(codes, self.model.chance_space_size).float()
        chance_ce = soft_cross_entropy(unroll.chance_logits, hard)
        chance_probs = unroll.chance_probs.float()
        commitment = (chance_probs - hard).pow(2).sum(-1)
        out["chance_loss"] = (chance_ce * mask * w).sum(1)
        out["commitment_loss"] = (commitment * mask * w).sum(1)
        # Code usage over the batch: log C - H(mean encoder softmax), 0 when every code is
        # used equally. Without it the commitment loss lets one code absorb every outcome.
        usage = (chance_probs * mask[..., None]).sum((0, 1)) / mask.sum().clamp_min(1.0)
        usage_entropy = -(usage * usage.clamp_min(1e-12).log()).sum()
        collapse = math.log(self.model.chance_space_size) - usage_entropy
        out["code_usage_loss"] = collapse.expand(codes.shape[0])
        out["per_sample"] = (
            out["per_sample"]
            + float(c.afterstate_value_loss_weight) * out["afterstate_value_loss"]
            + float(c.chance_loss_weight) * out["chance_loss"]
            + float(c.commitment_loss_weight) * out["commitment_loss"]
            + float(c.code_usage_loss_weight) * out["code_usage_loss"]
        )
        return out
