"""AlphaZero policy-value network: a residual tower over board planes, two heads.

Silver et al. (2017, 2018), scaled down for small boards:

- tower: 3x3 convolution -> BatchNorm -> ReLU, then ``num_res_blocks`` residual blocks
  (:class:`~pipezero.model.resnet.ResidualBlock`), all at the board's ``H x W``;
- policy head: 1x1 convolution to ``policy_head_channels`` -> BatchNorm -> ReLU -> linear to
  ``A`` logits;
- value head: 1x1 convolution to ``value_head_channels`` -> BatchNorm -> ReLU -> linear to
  ``value_hidden_size`` -> ReLU -> linear to 1 -> ``tanh``: the value in ``[-1, 1]`` for the
  player to move.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pipezero.model.common import as_shape, check_positive_int
from pipezero.model.resnet import ConvBNReLU, ResidualBlock


class AlphaZeroNet(nn.Module):
    """Residual policy-value network for board games.

    Args:
        observation_shape: ``(C, H, W)`` planes, e.g. ``(3, 3, 3)`` for TicTacToe.
        action_space_size: ``A`` (``H * W`` for TicTacToe and Gomoku, ``W`` for Connect4).
        num_channels: channels of the residual tower.
        num_res_blocks: residual blocks (0 allowed: the stem alone).
        policy_head_channels: channels of the policy head's 1x1 convolution.
        value_head_channels: channels of the value head's 1x1 convolution.
        value_hidden_size: width of the value head's hidden layer.

    Example:
        >>> net = AlphaZeroNet((3, 3, 3), 9, num_channels=16, num_res_blocks=1)
        >>> logits, value = net(torch.zeros(4, 3, 3, 3))
        >>> tuple(logits.shape), tuple(value.shape)
        ((4, 9), (4,))
    """

    def __init__(
        self,
        observation_shape: Sequence[int],
        action_space_size: int,
        num_channels: int = 32,
        num_res_blocks: int = 2,
        policy_head_channels: int = 4,
        value_head_channels: int = 2,
        value_hidden_size: int = 64,
    ) -> None:
        super().__init__()
        shape = as_shape("observation_shape", observation_shape)
        if len(shape) != 3:
            raise ValueError(
                f"AlphaZeroNet: observation_shape must be (C, H, W) board planes, got {shape}"
            )
        for name, value in (
            ("action_space_size", action_space_size),
            ("num_channels", num_channels),
            ("policy_head_channels", policy_head_channels),
            ("value_head_channels", value_head_channels),
            ("value_hidden_size", value_hidden_size),
        ):
            check_positive_int(name, value)
        if (
            isinstance(num_res_blocks, bool)
            or not isinstance(num_res_blocks, int)
            or (num_res_blocks < 0)
        ):
            raise ValueError(
                f"AlphaZeroNet: num_res_blocks must be an int >= 0, got {num_res_blocks!r}"
            )
        c_in, h, w = shape
        self.observation_shape = shape
        self.action_space_size = int(action_space_size)
        self.tower = nn.Sequential(
            ConvBNReLU(c_in, num_channels, kernel_size=3),
            *[ResidualBlock(num_channels) for _ in range(num_res_blocks)],
        )
        self.policy_head = nn.Sequential(
            ConvBNReLU(num_channels, policy_head_channels),
            nn.Flatten(),
            nn.Linear(policy_head_channels * h * w, action_space_size),
        )
        self.value_head = nn.Sequential(
            ConvBNReLU(num_channels, value_head_channels),
            nn.Flatten(),
            nn.Linear(value_head_channels * h * w, value_hidden_size),
            nn.ReLU(),
            nn.Linear(value_hidden_size, 1),
            nn.Tanh(),
        )

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``obs [B, C, H, W]`` -> ``(policy_logits [B, A], value [B])``, value in [-1, 1]."""
        if obs.shape[1:] != self.observation_shape:
            expected = ", ".join(map(str, self.observation_shape))
            raise ValueError(
                f"AlphaZeroNet expects observations [B, {expected}], got {list(obs.shape)}"
            )
        features = self.tower(obs)
        return self.policy_head(features), self.value_head(features).squeeze(-1)
