"""The contract between models and the tree search.

Every MuZero-family model in pipezero (and any user model) implements
:class:`MuZeroModelProtocol`. The search drivers in :mod:`pipezero.mcts` depend only on this
protocol, never on a concrete network, so a user model plugs in by returning
:class:`NetworkOutput` from two methods.

Shapes use ``B`` for the batch, ``A`` for the number of discrete actions and ``*L`` for the
latent-state shape (``[H]`` for MLP models, ``[C, H, W]`` for convolutional ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch


@dataclass
class NetworkOutput:
    """One batched inference of a MuZero-family model.

    Attributes:
        latent: ``[B, *L]`` latent state after this inference.
        policy_logits: ``[B, A]`` unnormalised policy over discrete actions. Sampled
            (continuous-action) models put their distribution parameters here instead,
            ``[B, P]``, and the sampled driver turns them into actions.
        value: ``[B]`` scalar state value, already mapped back from the categorical support.
        reward: ``[B]`` scalar reward of the transition that led here (zeros after
            ``initial_inference``). EfficientZero models return the *value prefix* here.
        value_logits: ``[B, S]`` logits over the value support, for training (optional).
        reward_logits: ``[B, S]`` logits over the reward support, for training (optional).
        hidden: recurrent state of the reward model, e.g. the EfficientZero value-prefix LSTM
            ``(h, c)``, each ``[1, B, H]``; ``None`` for models without one.
    """

    latent: torch.Tensor
    policy_logits: torch.Tensor
    value: torch.Tensor
    reward: torch.Tensor
    value_logits: torch.Tensor | None = None
    reward_logits: torch.Tensor | None = None
    hidden: Any = None


@runtime_checkable
class MuZeroModelProtocol(Protocol):
    """What the search needs from a model.

    ``initial_inference`` encodes observations into a root latent state and predicts its
    value and policy. ``recurrent_inference`` applies the learned dynamics to a batch of
    latent states and actions (``[B]`` int64 for discrete actions, ``[B, D]`` float for
    continuous ones). Models with a recurrent reward head (EfficientZero) also take and
    return ``hidden``; others ignore the argument and return ``hidden=None``.
    """

    def initial_inference(self, obs: torch.Tensor) -> NetworkOutput: ...

    def recurrent_inference(
        self, latent: torch.Tensor, action: torch.Tensor, hidden: Any = None
    ) -> NetworkOutput: ...
