"""Low-rank adapters (LoRA) for ``nn.Linear`` layers, with a switch to turn them off."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
from torch import nn

__all__ = ["LoRALinear", "disable_adapter", "inject_lora", "lora_parameters"]


class LoRALinear(nn.Module):
    """``y = base(x) + (alpha / r) * B A x``, with ``A [r, in]`` random and ``B [out, r]`` zero
    at creation (so the adapted layer starts equal to the base layer).

    Args:
        base: the wrapped layer (its parameters are left as they are).
        r: rank of the update.
        alpha: scaling numerator.
        dropout: dropout on the adapter's input.
    """

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16.0, dropout: float = 0.0):
        super().__init__()
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ValueError(f"LoRA rank r must be an int >= 1, got {r!r}")
        self.base = base
        self.r = r
        self.scaling = alpha / r
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.enabled:
            y = y + (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scaling
        return y


def inject_lora(
    model: nn.Module,
    target_modules: Sequence[str] = ("q_proj", "v_proj"),
    r: int = 8,
    alpha: float = 16.0,
    dropout: float = 0.0,
) -> list[str]:
    """Replace every ``nn.Linear`` whose attribute name is in ``target_modules`` by a
    :class:`LoRALinear` around it. Returns the qualified names replaced.

    Raises:
        ValueError: no layer matched (the names present are listed).
    """
    replaced: list[str] = []
    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            if child_name in target_modules and isinstance(child, nn.Linear):
                setattr(parent, child_name, LoRALinear(child, r, alpha, dropout))
                replaced.append(f"{parent_name}.{child_name}".lstrip("."))
    if not replaced:
        linear = sorted(
            {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}
        )
        raise ValueError(
            f"inject_lora: no nn.Linear named {tuple(target_modules)} in the model; "
            f"linear layer names present: {linear}"
        )
    return replaced


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The adapter parameters (``lora_A``, ``lora_B``) of every :class:`LoRALinear`."""
    return [p for m in model.modules() if isinstance(m, LoRALinear) for p in (m.lora_A, m.lora_B)]


@contextlib.contextmanager
def disable_adapter(model: nn.Module) -> Iterator[None]:
    """Within the block, every :class:`LoRALinear` of ``model`` computes its base layer only."""
    layers = [m for m in model.modules() if isinstance(m, LoRALinear)]
    previous = [m.enabled for m in layers]
    for m in layers:
        m.enabled = False
    try:
        yield
    finally:
        for m, flag in zip(layers, previous, strict=True):
            m.enabled = flag
