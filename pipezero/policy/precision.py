"""Optional mixed precision for the MuZero family: ``policy.amp = None | "bf16" | "fp16"``.

With ``amp`` set, the network runs under :func:`torch.autocast` both while learning (the
unroll, the target network's bootstrap values, reanalysis) and while searching (every
``initial_inference`` / ``recurrent_inference`` of a search); matrix products and
convolutions run in the low precision, everything else stays float32:

- the categorical supports (two-hot encoding, softmax expectation, ``h^-1``) and every loss
  cast their inputs to float32 first (:mod:`pipezero.model.support`,
  :mod:`pipezero.policy.losses`);
- the search core receives float32 arrays;
- the weights, the optimizer state and the checkpoints stay float32.

``bf16`` works on the CPU and on CUDA and needs no loss scaling. ``fp16`` is CUDA-only and
runs with a :class:`torch.amp.GradScaler`: an update whose scaled gradients overflow is
skipped and the scale halved, as usual for fp16 training.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

#: ``policy.amp`` values and the autocast dtype of each.
AMP_DTYPES: dict[str | None, torch.dtype | None] = {
    None: None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


def amp_dtype(amp: str | None, device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype of ``amp`` on ``device`` (``None``: full float32).

    Raises:
        ValueError: an unknown ``amp`` value, or ``fp16`` on a device without fp16 autocast
            (the CPU), naming the fix.
    """
    if amp not in AMP_DTYPES:
        raise ValueError(
            f"policy.amp must be one of {list(AMP_DTYPES)}, got {amp!r} "
            f"(e.g. --set policy.amp=bf16)"
        )
    device = torch.device(device)
    if amp == "fp16" and device.type != "cuda":
        raise ValueError(
            f"policy.amp='fp16' needs a CUDA device (got --device {device}); fp16 autocast "
            "and its gradient scaling are CUDA-only here: use policy.amp=bf16 on the CPU"
        )
    return AMP_DTYPES[amp]


class Precision:
    """Autocast and loss scaling of one policy.

    Args:
        amp: ``None``, ``"bf16"`` or ``"fp16"`` (``policy.amp``).
        device: the policy's device.

    Attributes:
        dtype: the autocast dtype, ``None`` for float32.
        scaler: the gradient scaler (active for ``fp16`` only; a pass-through otherwise).
    """

    def __init__(self, amp: str | None, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.amp = amp
        self.dtype = amp_dtype(amp, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=amp == "fp16")

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Run the enclosed network calls under autocast (a no-op for float32)."""
        if self.dtype is None:
            yield
            return
        with torch.autocast(self.device.type, dtype=self.dtype):
            yield

    @property
    def scaling(self) -> bool:
        """Whether gradients are scaled (``fp16``)."""
        return self.scaler.is_enabled()

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, scaled for fp16."""
        self.scaler.scale(loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Bring the gradients back to their true scale (before clipping)."""
        if self.scaling:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()`` then the scale update."""
        if self.scaling:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()

    def overflowed(self) -> None:
        """Record an overflowing fp16 step: the scale is lowered for the next update."""
        if self.scaling:
            self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        """The scaler's state (empty without fp16)."""
        return self.scaler.state_dict() if self.scaling else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (ignored without fp16)."""
        if self.scaling and state:
            self.scaler.load_state_dict(state)
