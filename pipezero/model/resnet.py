"""Convolutional blocks for image-observation models: residual blocks and a downsampling stem.

The stem follows the MuZero Atari network in spirit (appendix of Schrittwieser et al. 2020):
two stride-2 convolutions with residual blocks between them, then two stride-2 average
pools, which reduce 96x96 and 84x84 frames alike to a 6x6 latent.
"""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class ResidualBlock(nn.Module):
    """``x -> relu(x + bn(conv(relu(bn(conv(x))))))``; shape preserved, ``[B, C, H, W]``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, C, H, W]``."""
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(x + self.bn2(self.conv2(out)))


class DownsampleStem(nn.Module):
    """Reduce a frame by 16 in each spatial dimension (96 -> 6, 84 -> 6).

    ``[B, C_in, H, W] -> [B, C, ceil(ceil(ceil(ceil(H/2)/2)/2)/2), ...]``:
    conv stride 2 (C/2 channels) -> residual block -> conv stride 2 (C channels) ->
    residual block -> avg-pool stride 2 -> residual block -> avg-pool stride 2.
    """

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        half = max(channels // 2, 1)
        self.net = nn.Sequential(
            conv3x3(in_channels, half, stride=2),
            nn.BatchNorm2d(half),
            nn.ReLU(),
            ResidualBlock(half),
            conv3x3(half, channels, stride=2),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            ResidualBlock(channels),
            nn.AvgPool2d(3, stride=2, padding=1),
            ResidualBlock(channels),
            nn.AvgPool2d(3, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, H, W] -> [B, C, H/16, W/16]`` (rounded up)."""
        return self.net(x)


class ConvBNReLU(nn.Module):
    """``kernel x kernel`` convolution -> BatchNorm -> ReLU (same padding)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, H, W] -> [B, C_out, H, W]``."""
        return self.relu(self.bn(self.conv(x)))
