"""The critic: an MLP over the frozen base model's hidden states."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ValueHead"]


class ValueHead(nn.Module):
    """``hidden -> 1024 -> 512 -> 1`` (ReLU) value of the state ending at each position.

    It reads hidden states computed with the adapter disabled, so its input does not move
    while the policy's adapter learns; its own parameters are the only ones it trains.

    Args:
        hidden_size: ``H`` of the language model.
        layers: widths of the hidden layers.
    """

    def __init__(self, hidden_size: int, layers: Sequence[int] = (1024, 512)) -> None:
        super().__init__()
        widths = [hidden_size, *layers]
        mods: list[nn.Module] = []
        for a, b in itertools.pairwise(widths):
            mods += [nn.Linear(a, b), nn.ReLU()]
        mods.append(nn.Linear(widths[-1], 1))
        self.net = nn.Sequential(*mods)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``hidden [*, H] -> values [*]``."""
        return self.net(hidden).squeeze(-1)
