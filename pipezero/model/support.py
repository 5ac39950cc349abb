"""Value transform and categorical support for MuZero-family value and reward heads.

MuZero predicts values and rewards as distributions over a fixed grid of integers (the
*support*) after squashing them with an invertible transform, which keeps the scale of the
targets bounded whatever the game's reward scale (Pohlen et al. 2018, "Observe and Look
Further"; MuZero appendix F).

The transform is ``h(x) = sign(x) * (sqrt(|x| + 1) - 1) + eps * x`` with ``eps = 0.001``;
its inverse has a closed form (solve the quadratic in ``sqrt(|x| + 1)``).

A support of size ``S`` has ``2S + 1`` bins at the integers ``-S .. S``. A scalar target is
transformed with ``h``, clipped to ``[-S, S]`` and split between the two neighbouring bins
(*two-hot*), so the expectation of the encoding equals the transformed scalar. Logits are
decoded by the softmax expectation over the bin values followed by ``h^-1``.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import torch

DEFAULT_EPS = 0.001

_core: ModuleType | None = None
_F32 = np.dtype(np.float32)


def _decode_in_core(support: DiscreteSupport, *logits: torch.Tensor) -> torch.Tensor | None:
    """``[K, B]`` decoded scalars of ``K`` heads of ``[B, 2S + 1]`` logits by the C++ kernel
    (``pipezero.mcts._mcts_core.decode_supports``), or None where it does not apply: tensors
    not on the CPU, not float32 or not 2-D, or that need a gradient.

    The kernel makes one pass per row (max, then ``exp`` as a float polynomial with the sums of
    ``p`` and ``p * bin`` over four float lanes, added in double) and applies ``h^-1``, with no
    torch kernel launch: about 5x less time than the softmax, the product with the bins and
    ``h^-1`` at ``B = 8``, 2x at ``B = 64``. Its values differ from that torch decode by float
    rounding only (both within a few 1e-6 relative of a float64 decode).
    """
    try:  # a view of each; raises for a tensor not on the CPU, needing its gradient, or bf16
        arrays = [t.numpy() for t in logits]
    except (TypeError, RuntimeError):
        return None
    for i, a in enumerate(arrays):
        if a.dtype is not _F32 or a.ndim != 2:
            return None
        if a.strides[1] != 4:  # the kernel reads rows of contiguous bins
            arrays[i] = np.ascontiguousarray(a)
    global _core
    if _core is None:
        from pipezero.mcts import _mcts_core

        _core = _mcts_core
    return torch.from_numpy(_core.decode_supports(tuple(arrays), support.support_size, support.eps))


def value_transform(x: torch.Tensor, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """Squash ``x`` with ``h(x) = sign(x) (sqrt(|x| + 1) - 1) + eps x``.

    Args:
        x: tensor of any shape, in the units of the game's returns.
        eps: the linear term, keeps ``h`` invertible with a Lipschitz inverse.

    Returns:
        Tensor of the same shape and dtype.
    """
    return torch.sign(x) * (torch.sqrt(torch.abs(x) + 1.0) - 1.0) + eps * x


def inverse_value_transform(y: torch.Tensor, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """Exact inverse of :func:`value_transform`.

    With ``z = sqrt(|x| + 1)``, ``|y| = z - 1 + eps (z^2 - 1)``, a quadratic in ``z``. Writing
    its positive root as ``z - 1 = 2|y| / (sqrt((1 + 2 eps)^2 + 4 eps |y|) + 1 + 2 eps)`` avoids
    the cancellation of the textbook form, so ``h^-1(0) == 0`` exactly in float32 and the
    relative error stays near machine precision over the whole range.

    Args:
        y: tensor of any shape in the transformed space.
        eps: must match the ``eps`` used by :func:`value_transform`.

    Returns:
        Tensor of the same shape and dtype, in the units of the game's returns.
    """
    c = 1.0 + 2.0 * eps
    a = torch.abs(y)
    w = (2.0 * a) / (torch.sqrt(a.mul(4.0 * eps).add_(c * c)) + c)  # w = z - 1
    return torch.copysign(w * (w + 2.0), y)  # |x| = z^2 - 1 = w (w + 2)


def _inverse_value_transform_(y: torch.Tensor, eps: float) -> torch.Tensor:
    """:func:`inverse_value_transform` in place on ``y``, a fresh tensor owned by the caller.

    On a CPU tensor outside autograd the same float operations run as NumPy ufuncs on a view
    of ``y``: a search decodes a few dozen values per network call, where a torch kernel
    launch costs several times the arithmetic (about 3x less time for the ten operations at
    ``M = 8``). Elsewhere (accelerators, tensors that need a gradient) it is the torch form.
    """
    if not y.is_cpu or y.requires_grad or y.dtype not in (torch.float32, torch.float64):
        return inverse_value_transform(y, eps)
    c = 1.0 + 2.0 * eps
    x = y.numpy()
    a = np.abs(x)
    t = np.multiply(a, 4.0 * eps)
    t += c * c
    np.sqrt(t, out=t)
    t += c
    a *= 2.0
    a /= t  # w = 2|y| / (sqrt(c^2 + 4 eps |y|) + c)
    np.add(a, 2.0, out=t)
    t *= a  # |x| = w (w + 2)
    np.copysign(t, x, out=x)
    return y


class DiscreteSupport:
    """A categorical support of ``2 * support_size + 1`` unit-spaced bins centred on zero.

    Args:
        support_size: ``S``; bins sit at the integers ``-S .. S``. Transformed values outside
            this range are clipped by :meth:`scalar_to_probs`.
        eps: the ``eps`` of the value transform.

    Example:
        >>> support = DiscreteSupport(300)
        >>> probs = support.scalar_to_probs(torch.tensor([3.5, -120.0]))  # [2, 601]
        >>> support.probs_to_scalar(probs)  # tensor([   3.5000, -120.0000])
    """

    def __init__(self, support_size: int, eps: float = DEFAULT_EPS) -> None:
        if not isinstance(support_size, int) or support_size < 1:
            raise ValueError(
                f"support_size must be a positive int (bins at -S..S), got {support_size!r}; "
                "MuZero uses 300 for Atari and ~10-50 for small control tasks"
            )
        self.support_size = support_size
        self.eps = eps
        self.size = 2 * support_size + 1
        self._bins = torch.arange(-support_size, support_size + 1, dtype=torch.float32)

    def bins(self, like: torch.Tensor) -> torch.Tensor:
        """The bin values ``[2S + 1]`` on the device and dtype of ``like``."""
        if self._bins.device != like.device or self._bins.dtype != like.dtype:
            self._bins = self._bins.to(device=like.device, dtype=like.dtype)
        return self._bins

    def scalar_to_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Two-hot encode scalars after the value transform.

        Args:
            x: ``[*]`` float scalars (returns, rewards) in game units.

        Returns:
            ``[*, 2S + 1]`` probabilities; each row has at most two non-zero entries on
            neighbouring bins, sums to one, and its expectation is ``clip(h(x), -S, S)``.
        """
        x = x.float()
        s = self.support_size
        y = value_transform(x, self.eps).clamp(-s, s)
        low = torch.floor(y)
        upper_weight = y - low
        low_index = (low + s).long()
        # At y == S the upper bin would be out of range; its weight is zero there anyway.
        high_index = (low_index + 1).clamp(max=2 * s)
        probs = torch.zeros(*x.shape, self.size, dtype=x.dtype, device=x.device)
        probs.scatter_add_(-1, high_index.unsqueeze(-1), upper_weight.unsqueeze(-1))
        probs.scatter_add_(-1, low_index.unsqueeze(-1), (1.0 - upper_weight).unsqueeze(-1))
        return probs

    def probs_to_scalar(self, probs: torch.Tensor) -> torch.Tensor:
        """Decode probabilities ``[*, 2S + 1]`` into float32 scalars ``[*]`` in game units."""
        self._check_last_dim(probs)
        with _full_precision(probs):
            probs = probs.float()
            expectation = probs @ self.bins(probs)
            return inverse_value_transform(expectation, self.eps)

    def logits_to_scalar(self, logits: torch.Tensor) -> torch.Tensor:
        """Decode logits ``[*, 2S + 1]`` into float32 scalars ``[*]``: softmax, expectation,
        ``h^-1``. Always in float32, also under mixed precision (a bf16 expectation over
        hundreds of bins would lose the value's fractional part). ``[B, 2S + 1]`` float32 CPU
        logits outside autograd are decoded in one C++ pass (see :func:`_decode_in_core`)."""
        self._check_last_dim(logits)
        decoded = _decode_in_core(self, logits)
        if decoded is not None:
            return decoded[0]
        if torch.is_autocast_enabled(logits.device.type):
            with _full_precision(logits):
                return _inverse_value_transform_(self.expectation(logits), self.eps)
        return _inverse_value_transform_(self.expectation(logits), self.eps)

    def expectation(self, logits: torch.Tensor) -> torch.Tensor:
        """``softmax(logits) @ bins``: ``[*, 2S + 1]`` -> float32 ``[*]`` in the transformed
        space (apply :func:`inverse_value_transform` for game units). Two kernels; the caller
        turns autocast off."""
        probs = torch.softmax(logits, dim=-1, dtype=torch.float32)
        return probs @ self.bins(probs)

    def _check_last_dim(self, t: torch.Tensor) -> None:
        if t.shape[-1] != self.size:
            raise ValueError(
                f"expected a last dimension of {self.size} (= 2 * support_size + 1 with "
                f"support_size={self.support_size}), got shape {tuple(t.shape)}; "
                "check that the model and the loss use the same support_size"
            )

    def __repr__(self) -> str:
        return f"DiscreteSupport(support_size={self.support_size}, eps={self.eps})"


def _full_precision(like: torch.Tensor) -> torch.autocast:
    """A context that turns autocast off on ``like``'s device (float32 matrix products)."""
    return torch.autocast(like.device.type, enabled=False)


def decode_value_and_reward(
    value_support: DiscreteSupport,
    value_logits: torch.Tensor,
    reward_support: DiscreteSupport,
    reward_logits: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode value and reward logits ``[B, *]`` into scalars ``([B], [B])``.

    CPU float32 logits outside autograd (a search's network calls) are decoded by one C++
    call for both heads (:func:`_decode_in_core`). Otherwise, when both supports are alike the
    two expectations are stacked into one ``[2, B]`` tensor
    and ``h^-1`` runs once on it: a search's network call then decodes with five small
    kernels and one inverse, and the two results are rows of one buffer (no copy of the
    ``[2, B, 2S + 1]`` logits).
    """
    if value_support.size != reward_support.size or value_support.eps != reward_support.eps:
        return value_support.logits_to_scalar(value_logits), reward_support.logits_to_scalar(
            reward_logits
        )
    value_support._check_last_dim(value_logits)
    value_support._check_last_dim(reward_logits)
    both = _decode_in_core(value_support, value_logits, reward_logits)
    if both is not None:
        return both[0], both[1]
    if torch.is_autocast_enabled(value_logits.device.type):
        with _full_precision(value_logits):
            both = torch.stack(
                (value_support.expectation(value_logits), value_support.expectation(reward_logits))
            )
    else:
        both = torch.stack(
            (value_support.expectation(value_logits), value_support.expectation(reward_logits))
        )
    both = _inverse_value_transform_(both, value_support.eps)
    return both[0], both[1]
