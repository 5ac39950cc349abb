"""The MuZero protocol implemented once, on top of the three learned functions.

A MuZero-family network is representation ``h``, dynamics ``g`` and prediction ``f``
(Schrittwieser et al., 2020). Subclasses define those three (and ``initial_hidden`` when the
reward model is recurrent); :class:`MuZeroNetwork` turns them into the
``initial_inference`` / ``recurrent_inference`` pair the search and the policies call.
Subclasses set ``value_support`` and ``reward_support`` (:class:`DiscreteSupport`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pipezero.model.protocol import NetworkOutput
from pipezero.model.support import DiscreteSupport, decode_value_and_reward


class MuZeroNetwork(nn.Module):
    """Base of the MuZero-family models; implements :class:`MuZeroModelProtocol`."""

    value_support: DiscreteSupport
    reward_support: DiscreteSupport

    def representation(self, obs: torch.Tensor) -> torch.Tensor:
        """``h``: observations ``[B, *O]`` -> latent states ``[B, *L]``."""
        raise NotImplementedError

    def dynamics(
        self, latent: torch.Tensor, action: torch.Tensor, hidden: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """``g``: ``(latent [B, *L], action [B], hidden)`` ->
        ``(next_latent [B, *L], reward_logits [B, 2S' + 1], next_hidden)``."""
        raise NotImplementedError

    def prediction(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``f``: latents ``[B, *L]`` -> ``(policy_logits [B, A], value_logits [B, 2S + 1])``."""
        raise NotImplementedError

    def initial_hidden(self, batch_size: int, like: torch.Tensor) -> Any:
        """Recurrent reward state at the root: ``None`` for MuZero."""
        return None

    def initial_inference(self, obs: torch.Tensor) -> NetworkOutput:
        """Root inference: observations ``[B, *O]`` -> :class:`NetworkOutput` (reward 0)."""
        latent = self.representation(obs)
        policy_logits, value_logits = self.prediction(latent)
        return NetworkOutput(
            latent=latent,
            policy_logits=policy_logits,
            value=self.value_support.logits_to_scalar(value_logits),
            reward=latent.new_zeros(latent.shape[0]),
            value_logits=value_logits,
            hidden=self.initial_hidden(latent.shape[0], latent),
        )

    def recurrent_inference(
        self, latent: torch.Tensor, action: torch.Tensor, hidden: Any = None
    ) -> NetworkOutput:
        """One dynamics step plus prediction.

        Args:
            latent: ``[B, *L]`` latent states.
            action: ``[B]`` int64 actions.
            hidden: recurrent reward state (``None`` for MuZero, which ignores it).

        Returns:
            :class:`NetworkOutput` with the next latent, scalar ``value``/``reward`` ``[B]``
            and the logits they were decoded from.
        """
        next_latent, reward_logits, hidden = self.dynamics(latent, action, hidden)
        policy_logits, value_logits = self.prediction(next_latent)
        value, reward = decode_value_and_reward(
            self.value_support, value_logits, self.reward_support, reward_logits
        )
        return NetworkOutput(
            latent=next_latent,
            policy_logits=policy_logits,
            value=value,
            reward=reward,
            value_logits=value_logits,
            reward_logits=reward_logits,
            hidden=hidden,
        )
