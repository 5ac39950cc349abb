"""Observation encoders of the UniZero world model: observations -> latent tokens ``[B, D]``.

- :class:`MLPEncoder` for vector observations (CartPole, LunarLander, ...);
- :class:`ConvEncoder` for image observations (stacked Atari frames): the MuZero stride-16
  downsampling stem, residual blocks, then a linear map of the flattened feature map.

Both end with a parameter-free LayerNorm, so the latent tokens the transformer reads (and the
next latents it learns to predict) keep a fixed scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pipezero.model.common import as_shape, check_positive_int, make_activation
from pipezero.model.conv import downsampled_size
from pipezero.model.resnet import DownsampleStem, ResidualBlock, conv3x3


class MLPEncoder(nn.Module):
    """``[B, *O]`` (flattened) -> ``num_layers`` x (Linear, activation) -> Linear -> LayerNorm
    -> ``[B, D]``."""

    def __init__(
        self,
        observation_shape: int | Sequence[int],
        latent_dim: int,
        hidden_dim: int = 128,
        num_layers: int = 1,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        shape = as_shape("observation_shape", observation_shape)
        check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("num_layers", num_layers)
        in_dim = 1
        for d in shape:
            in_dim *= d
        layers: list[nn.Module] = []
        for i in range(num_layers):
            layers += [nn.Linear(in_dim if i == 0 else hidden_dim, hidden_dim)]
            layers += [make_activation(activation)]
        layers.append(nn.Linear(hidden_dim, latent_dim))
        self.net = nn.Sequential(*layers)
        self.latent_dim = latent_dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs [B, *O]`` -> normalised latents ``[B, D]``."""
        x = obs.reshape(obs.shape[0], -1).float()
        return F.layer_norm(self.net(x), (self.latent_dim,))


class ConvEncoder(nn.Module):
    """``[B, C_in, H, W]`` frames -> downsampling stem (``/16``) -> residual blocks -> Linear
    -> LayerNorm -> ``[B, D]``.

    Args:
        observation_shape: ``(C_in, H, W)``, e.g. ``(4, 64, 64)`` or ``(4, 96, 96)``.
        latent_dim: ``D``.
        num_channels: channels of the feature map.
        num_res_blocks: residual blocks after the stem.
        downsample: use the stride-16 stem; without it a 3x3 convolution keeps ``H x W``
            (small boards).
        obs_scale: observations are multiplied by it first (``1/255`` for uint8 frames).
    """

    def __init__(
        self,
        observation_shape: Sequence[int],
        latent_dim: int,
        num_channels: int = 32,
        num_res_blocks: int = 1,
        downsample: bool = True,
        obs_scale: float = 1.0,
    ) -> None:
        super().__init__()
        shape = as_shape("observation_shape", observation_shape)
        if len(shape) != 3:
            raise ValueError(
                f"ConvEncoder needs (channels, height, width) observations, got {shape}; use "
                "MLPEncoder (encoder='mlp') for vector observations"
            )
        c_in, h, w = shape
        check_positive_int("num_channels", num_channels)
        if downsample:
            stem: nn.Module = DownsampleStem(c_in, num_channels)
            h, w = downsampled_size(h), downsampled_size(w)
        else:
            stem = nn.Sequential(
                conv3x3(c_in, num_channels), nn.BatchNorm2d(num_channels), nn.ReLU()
            )
        blocks = [ResidualBlock(num_channels) for _ in range(num_res_blocks)]
        self.net = nn.Sequential(stem, *blocks)
        self.out = nn.Linear(num_channels * h * w, latent_dim)
        self.latent_dim = latent_dim
        self.obs_scale = float(obs_scale)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs [B, C_in, H, W]`` -> normalised latents ``[B, D]``."""
        x = obs.float()
        if self.obs_scale != 1.0:
            x = x * self.obs_scale
        features = self.net(x).flatten(1)
        return F.layer_norm(self.out(features), (self.latent_dim,))
