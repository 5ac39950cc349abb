"""MuZero with convolutional residual networks, for image observations (Atari frames, boards).

- representation: ``[B, C_in, H, W]`` -> optional :class:`~pipezero.model.resnet.DownsampleStem`
  (96x96 and 84x84 frames become 6x6) or a 3x3 convolution -> residual blocks -> latent
  ``[B, C, h, w]``;
- dynamics: latent concatenated with the action as ``A`` one-hot planes -> 3x3 convolution
  with a residual connection to the latent -> residual blocks -> next latent; a 1x1
  convolution and an MLP read the reward logits off the next latent;
- prediction: residual blocks -> one fused 1x1 convolution for the value and policy heads
  -> one MLP each.

Latents are min-max normalised per sample by default, as in MuZero (``latent_norm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pipezero.model.base import MuZeroNetwork
from pipezero.model.common import LatentNorm, as_shape, check_positive_int, mlp
from pipezero.model.resnet import ConvBNReLU, DownsampleStem, ResidualBlock, conv3x3
from pipezero.model.support import DiscreteSupport


def downsampled_size(size: int) -> int:
    """Spatial size after :class:`DownsampleStem`: four halvings, each rounding up."""
    for _ in range(4):
        size = (size + 1) // 2
    return size


class MuZeroConv(MuZeroNetwork):
    """MuZero model with residual convolutional networks.

    Args:
        observation_shape: ``(C_in, H, W)``, e.g. ``(4, 96, 96)`` for four stacked grey frames.
        action_space_size: ``A``.
        num_channels: ``C``, channels of the latent state.
        num_res_blocks: residual blocks in each of representation, dynamics and prediction.
        downsample: use the stride-16 stem (for frames of 64 pixels and more); without it the
            latent keeps the observation's ``H x W`` (boards).
        support_size: ``S`` of the value support.
        reward_support_size: ``S_r`` of the reward support; defaults to ``support_size``.
        reward_head_channels: channels of the 1x1 convolution before the reward MLP.
        value_head_channels: channels of the 1x1 convolution before the value MLP.
        policy_head_channels: channels of the 1x1 convolution before the policy MLP.
        fc_hidden_sizes: hidden widths of the reward, value and policy MLPs.
        latent_norm: ``"minmax"`` (default, MuZero), ``"layernorm"`` or ``"none"``.
        activation: activation of the MLP heads.

    Attributes:
        latent_shape: ``(C, h, w)``.
    """

    #: False in subclasses that predict rewards elsewhere (EfficientZero's value prefix).
    _reward_from_dynamics: ClassVar[bool] = True

    def __init__(
        self,
        observation_shape: Sequence[int],
        action_space_size: int,
        num_channels: int = 64,
        num_res_blocks: int = 1,
        downsample: bool = True,
        support_size: int = 300,
        reward_support_size: int | None = None,
        reward_head_channels: int = 16,
        value_head_channels: int = 16,
        policy_head_channels: int = 16,
        fc_hidden_sizes: Sequence[int] = (32,),
        latent_norm: str = "minmax",
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.observation_shape = as_shape("observation_shape", observation_shape)
        if len(self.observation_shape) != 3:
            raise ValueError(
                "MuZeroConv needs observation_shape (C, H, W), got "
                f"{observation_shape!r}; use MuZeroMLP for vector observations, or reshape "
                "frames to channels-first"
            )
        self.action_space_size = check_positive_int("action_space_size", action_space_size)
        check_positive_int("num_channels", num_channels)
        if num_res_blocks < 0:
            raise ValueError(f"num_res_blocks must be >= 0, got {num_res_blocks!r}")
        in_channels, height, width = self.observation_shape
        if downsample:
            height, width = downsampled_size(height), downsampled_size(width)
        self.latent_shape = (num_channels, height, width)
        spatial = height * width
        self.value_support = DiscreteSupport(support_size)
        self.reward_support = DiscreteSupport(
            support_size if reward_support_size is None else reward_support_size
        )

        # representation
        if downsample:
            self.repr_stem: nn.Module = DownsampleStem(in_channels, num_channels)
        else:
            self.repr_stem = ConvBNReLU(in_channels, num_channels, kernel_size=3)
        self.repr_blocks = nn.Sequential(
            *[ResidualBlock(num_channels) for _ in range(num_res_blocks)]
        )
        self.latent_norm = LatentNorm(self.latent_shape, latent_norm)

        # dynamics: conv over [latent | one-hot action planes], residual to the latent
        self.dyn_conv = conv3x3(num_channels + self.action_space_size, num_channels)
        self.dyn_bn = nn.BatchNorm2d(num_channels)
        self.dyn_blocks = nn.Sequential(
            *[ResidualBlock(num_channels) for _ in range(num_res_blocks)]
        )
        if self._reward_from_dynamics:
            self.reward_conv = ConvBNReLU(num_channels, reward_head_channels)
            self.reward_mlp = mlp(
                reward_head_channels * spatial,
                fc_hidden_sizes,
                self.reward_support.size,
                activation,
                zero_init_output=True,
            )

        # prediction: one 1x1 conv for both heads, split by channel
        self.pred_blocks = nn.Sequential(
            *[ResidualBlock(num_channels) for _ in range(num_res_blocks)]
        )
        self.value_head_channels = value_head_channels
        self.pred_conv = ConvBNReLU(num_channels, value_head_channels + policy_head_channels)
        self.value_mlp = mlp(
            value_head_channels * spatial,
            fc_hidden_sizes,
            self.value_support.size,
            activation,
            zero_init_output=True,
        )
        self.policy_mlp = mlp(
            policy_head_channels * spatial,
            fc_hidden_sizes,
            self.action_space_size,
            activation,
            zero_init_output=True,
        )

    # -- the three functions -------------------------------------------------------------

    def representation(self, obs: torch.Tensor) -> torch.Tensor:
        """Encode observations ``[B, C_in, H, W]`` (float; scale them to ~[0, 1]) into
        normalised latents ``[B, C, h, w]``."""
        if obs.dtype != torch.float32:
            obs = obs.float()
        return self.latent_norm(self.repr_blocks(self.repr_stem(obs)))

    def _transition(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Next latent ``[B, C, h, w]`` from latents ``[B, C, h, w]`` and actions ``[B]``."""
        b, _, h, w = latent.shape
        planes = F.one_hot(action.reshape(-1).long(), self.action_space_size).to(latent.dtype)
        planes = planes[:, :, None, None].expand(b, self.action_space_size, h, w)
        x = self.dyn_bn(self.dyn_conv(torch.cat((latent, planes), dim=1)))
        x = self.dyn_blocks(F.relu(x + latent))
        return self.latent_norm(x)

    def dynamics(
        self, latent: torch.Tensor, action: torch.Tensor, hidden: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """One step of the learned dynamics.

        Args:
            latent: ``[B, C, h, w]``.
            action: ``[B]`` int64 actions.
            hidden: unused by MuZero (see EfficientZero).

        Returns:
            ``(next_latent [B, C, h, w], reward_logits [B, 2S_r + 1], None)``.
        """
        next_latent = self._transition(latent, action)
        reward_logits = self.reward_mlp(self.reward_conv(next_latent).flatten(1))
        return next_latent, reward_logits, None

    def prediction(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, C, h, w] -> (policy_logits [B, A], value_logits [B, 2S + 1])``."""
        x = self.pred_conv(self.pred_blocks(latent))
        v = self.value_head_channels
        value_logits = self.value_mlp(x[:, :v].flatten(1))
        policy_logits = self.policy_mlp(x[:, v:].flatten(1))
        return policy_logits, value_logits
