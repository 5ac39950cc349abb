"""EfficientZero's value-prefix head (Ye et al. 2021, section 4.2).

Instead of predicting each reward of the unroll separately, an LSTM runs along the unroll and
predicts the *value prefix*: the sum of rewards from the root to the current node. This
removes the "state aliasing" problem of predicting exactly when a reward arrives. The search
resets the LSTM hidden state every ``lstm_horizon_len`` steps and takes differences of
consecutive prefixes to recover per-step rewards.

The hidden state travels through :class:`~pipezero.model.protocol.NetworkOutput.hidden` as
``(h, c)``, each ``[1, B, H]`` (the layout of :class:`torch.nn.LSTM`), so a search driver can
store it per node without knowing the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pipezero.model.common import make_activation, mlp

LSTMHidden = tuple[torch.Tensor, torch.Tensor]


class ValuePrefixLSTM(nn.Module):
    """One LSTM step per unroll step followed by a categorical head.

    Args:
        input_dim: features per sample fed to the LSTM (the flattened next latent, or a
            reduced map of it for convolutional models).
        lstm_hidden_size: ``H``.
        output_bins: ``2S_r + 1`` bins of the value-prefix support.
        head_hidden_sizes: hidden widths of the MLP after the LSTM.
        activation: activation name for the head.
    """

    def __init__(
        self,
        input_dim: int,
        lstm_hidden_size: int,
        output_bins: int,
        head_hidden_sizes: Sequence[int] = (),
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.lstm_hidden_size = lstm_hidden_size
        self.cell = nn.LSTMCell(input_dim, lstm_hidden_size)
        self.act = make_activation(activation)
        self.head = mlp(
            lstm_hidden_size, head_hidden_sizes, output_bins, activation, zero_init_output=True
        )

    def initial_hidden(self, batch_size: int, like: torch.Tensor) -> LSTMHidden:
        """Zero ``(h, c)``, each ``[1, B, H]``, on the device and dtype of ``like``."""
        h = like.new_zeros(1, batch_size, self.lstm_hidden_size)
        return h, torch.zeros_like(h)

    def forward(
        self, features: torch.Tensor, hidden: LSTMHidden | None
    ) -> tuple[torch.Tensor, LSTMHidden]:
        """Advance the LSTM one step.

        Args:
            features: ``[B, input_dim]``.
            hidden: ``(h, c)`` each ``[1, B, H]``; ``None`` means zeros (a fresh horizon).

        Returns:
            ``(value_prefix_logits [B, 2S_r + 1], (h, c) each [1, B, H])``.
        """
        if hidden is None:
            h, c = self.cell(features)
        else:
            h0, c0 = hidden
            if h0.dim() != 3 or h0.shape[1] != features.shape[0]:
                raise ValueError(
                    f"value-prefix hidden must be (h, c) each [1, B, H] with B="
                    f"{features.shape[0]}, got h of shape {tuple(h0.shape)}; pass the hidden "
                    "returned by the previous inference, or None to start a new horizon"
                )
            h, c = self.cell(features, (h0[0], c0[0]))
        logits = self.head(self.act(h))
        return logits, (h.unsqueeze(0), c.unsqueeze(0))
