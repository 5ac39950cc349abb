"""Small building blocks shared by the pipezero models.

Latent normalisation, activation lookup and argument checks. Kept free of any specific
architecture so the MLP and convolutional models read the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

LATENT_NORMS = ("layernorm", "minmax", "none")

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module by name (``relu``, ``elu``, ``gelu``, ``silu``, ...)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {sorted(_ACTIVATIONS)}"
        ) from None


def check_latent_norm(latent_norm: str) -> str:
    """Validate a ``latent_norm`` argument and return it."""
    if latent_norm not in LATENT_NORMS:
        raise ValueError(f"latent_norm must be one of {LATENT_NORMS}, got {latent_norm!r}")
    return latent_norm


def minmax_normalize(latent: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Scale each sample's latent to ``[0, 1]`` (MuZero appendix G).

    Args:
        latent: ``[B, *L]``; the min and max are taken over all of ``*L`` per sample.
        eps: floor of the range, so constant latents do not divide by zero.

    Returns:
        Tensor of the same shape with per-sample minimum 0 and maximum 1 (or all 0).
    """
    flat = latent.reshape(latent.shape[0], -1)
    low, high = torch.aminmax(flat, dim=1, keepdim=True)
    scaled = (flat - low) / (high - low).clamp_min(eps)
    return scaled.reshape(latent.shape)


class LatentNorm(nn.Module):
    """Normalise latent states so unrolled dynamics keep a fixed scale.

    Args:
        latent_shape: ``*L``, the per-sample latent shape.
        kind: ``"layernorm"`` (zero mean, unit variance over ``*L``, no learned affine, one
            fused kernel), ``"minmax"`` (per-sample rescale to ``[0, 1]`` as in MuZero) or
            ``"none"``.
    """

    def __init__(self, latent_shape: Sequence[int], kind: str = "layernorm") -> None:
        super().__init__()
        self.kind = check_latent_norm(kind)
        self.latent_shape = tuple(int(d) for d in latent_shape)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """``[B, *L] -> [B, *L]``."""
        if self.kind == "layernorm":
            return F.layer_norm(latent, self.latent_shape)
        if self.kind == "minmax":
            return minmax_normalize(latent)
        return latent

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, latent_shape={self.latent_shape}"


def check_positive_int(name: str, value: object) -> int:
    """Raise a ``ValueError`` naming ``name`` unless ``value`` is a positive int."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def as_shape(name: str, shape: int | Sequence[int]) -> tuple[int, ...]:
    """Turn an int or a sequence of ints into a shape tuple, checking every entry."""
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise ValueError(f"{name} must be a positive int or a sequence of them, got {shape!r}")
    return dims


def mlp(
    in_dim: int,
    hidden_sizes: Sequence[int],
    out_dim: int,
    activation: str = "relu",
    zero_init_output: bool = False,
) -> nn.Sequential:
    """Linear layers with ``activation`` between them and none after the last.

    Args:
        in_dim: input features.
        hidden_sizes: widths of the hidden layers (may be empty: a single Linear).
        out_dim: output features.
        activation: hidden activation name, see :func:`make_activation`.
        zero_init_output: zero the last layer, so a value/reward head starts at 0 and a
            policy head starts uniform.
    """
    layers: list[nn.Module] = []
    dims = [in_dim, *hidden_sizes]
    for d_in, d_out in pairwise(dims):
        layers += [nn.Linear(d_in, d_out), make_activation(activation)]
    last = nn.Linear(dims[-1], out_dim)
    if zero_init_output:
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    layers.append(last)
    return nn.Sequential(*layers)
