"""EfficientZero models (Ye et al. 2021): MuZero plus a value-prefix LSTM and the
self-supervised consistency heads.

Both classes reuse the MuZero networks unchanged for representation, latent dynamics and
prediction, and replace the per-step reward head by a
:class:`~pipezero.model.value_prefix.ValuePrefixLSTM`. ``reward`` and ``reward_logits`` in
the returned :class:`~pipezero.model.protocol.NetworkOutput` therefore hold the *value
prefix* (the sum of rewards since the LSTM was last reset), and ``hidden`` holds ``(h, c)``,
each ``[1, B, lstm_hidden_size]``.

``initial_inference`` returns a zero hidden state; pass ``hidden=None`` to
``recurrent_inference`` to start a new horizon (the search does so every
``lstm_horizon_len`` steps). :meth:`project` gives the consistency-loss projections, see
:mod:`pipezero.model.consistency`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from pipezero.model.consistency import ConsistencyHeads
from pipezero.model.conv import MuZeroConv
from pipezero.model.mlp import MuZeroMLP
from pipezero.model.resnet import ConvBNReLU
from pipezero.model.value_prefix import LSTMHidden, ValuePrefixLSTM


class EfficientZeroMLP(MuZeroMLP):
    """EfficientZero for vector observations.

    Args:
        observation_shape: ``*O``.
        action_space_size: ``A``.
        lstm_hidden_size: ``H`` of the value-prefix LSTM, whose input is the next latent.
        value_prefix_hidden_sizes: hidden widths of the MLP after the LSTM.
        projection_hidden_dim: hidden width of the consistency projection head.
        projection_dim: ``P``, output width of the projection and prediction heads.
        prediction_hidden_dim: bottleneck of the consistency prediction head.
        **kwargs: every other argument of :class:`~pipezero.model.mlp.MuZeroMLP`
            (``latent_dim``, ``hidden_dim``, ``support_size``, ``reward_support_size`` — the
            value-prefix support —, ``num_hidden_layers``, ``latent_norm``, ``activation``).
    """

    _reward_from_dynamics_trunk = False

    def __init__(
        self,
        observation_shape: int | Sequence[int],
        action_space_size: int,
        lstm_hidden_size: int = 128,
        value_prefix_hidden_sizes: Sequence[int] = (),
        projection_hidden_dim: int = 256,
        projection_dim: int = 256,
        prediction_hidden_dim: int = 64,
        **kwargs: Any,
    ) -> None:
        super().__init__(observation_shape, action_space_size, **kwargs)
        activation = kwargs.get("activation", "relu")
        self.value_prefix = ValuePrefixLSTM(
            self.latent_dim,
            lstm_hidden_size,
            self.reward_support.size,
            value_prefix_hidden_sizes,
            activation,
        )
        self.consistency = ConsistencyHeads(
            self.latent_dim, projection_hidden_dim, projection_dim, prediction_hidden_dim
        )

    def dynamics(
        self, latent: torch.Tensor, action: torch.Tensor, hidden: LSTMHidden | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, LSTMHidden]:
        """One step of the dynamics and of the value-prefix LSTM.

        Args:
            latent: ``[B, D]``.
            action: ``[B]`` int64 actions.
            hidden: ``(h, c)`` each ``[1, B, H]``, or ``None`` to start a new horizon.

        Returns:
            ``(next_latent [B, D], value_prefix_logits [B, 2S_r + 1], (h, c))``.
        """
        next_latent, _ = self._transition(latent, action)
        logits, hidden = self.value_prefix(next_latent, hidden)
        return next_latent, logits, hidden

    def initial_hidden(self, batch_size: int, like: torch.Tensor) -> LSTMHidden:
        """Zero ``(h, c)``, each ``[1, B, H]``."""
        return self.value_prefix.initial_hidden(batch_size, like)


class EfficientZeroConv(MuZeroConv):
    """EfficientZero for image observations.

    The value-prefix LSTM reads the next latent through a 1x1 convolution with
    ``reward_head_channels`` channels, flattened.

    Args:
        observation_shape: ``(C_in, H, W)``.
        action_space_size: ``A``.
        lstm_hidden_size: ``H`` of the value-prefix LSTM.
        projection_hidden_dim: hidden width of the consistency projection head.
        projection_dim: ``P``.
        prediction_hidden_dim: bottleneck of the consistency prediction head.
        **kwargs: every other argument of :class:`~pipezero.model.conv.MuZeroConv`
            (``num_channels``, ``num_res_blocks``, ``downsample``, ``support_size``,
            ``reward_support_size``, ``reward_head_channels``, ``fc_hidden_sizes`` — also
            used after the LSTM —, ``latent_norm``, ...).
    """

    _reward_from_dynamics = False

    def __init__(
        self,
        observation_shape: Sequence[int],
        action_space_size: int,
        lstm_hidden_size: int = 512,
        projection_hidden_dim: int = 256,
        projection_dim: int = 256,
        prediction_hidden_dim: int = 64,
        **kwargs: Any,
    ) -> None:
        super().__init__(observation_shape, action_space_size, **kwargs)
        channels, height, width = self.latent_shape
        reward_channels = kwargs.get("reward_head_channels", 16)
        self.value_prefix_conv = ConvBNReLU(channels, reward_channels)
        self.value_prefix = ValuePrefixLSTM(
            reward_channels * height * width,
            lstm_hidden_size,
            self.reward_support.size,
            kwargs.get("fc_hidden_sizes", (32,)),
            kwargs.get("activation", "relu"),
        )
        self.consistency = ConsistencyHeads(
            channels * height * width, projection_hidden_dim, projection_dim, prediction_hidden_dim
        )

    def dynamics(
        self, latent: torch.Tensor, action: torch.Tensor, hidden: LSTMHidden | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, LSTMHidden]:
        """One step of the dynamics and of the value-prefix LSTM.

        Args:
            latent: ``[B, C, h, w]``.
            action: ``[B]`` int64 actions.
            hidden: ``(h, c)`` each ``[1, B, H]``, or ``None`` to start a new horizon.

        Returns:
            ``(next_latent [B, C, h, w], value_prefix_logits [B, 2S_r + 1], (h, c))``.
        """
        next_latent = self._transition(latent, action)
        features = self.value_prefix_conv(next_latent).flatten(1)
        logits, hidden = self.value_prefix(features, hidden)
        return next_latent, logits, hidden

    def initial_hidden(self, batch_size: int, like: torch.Tensor) -> LSTMHidden:
        """Zero ``(h, c)``, each ``[1, B, H]``."""
        return self.value_prefix.initial_hidden(batch_size, like)

    def project(self, latent: torch.Tensor, with_grad: bool = True) -> torch.Tensor:
        """Consistency projection ``[B, C, h, w] -> [B, P]``."""
        return self.consistency(latent, with_grad)
