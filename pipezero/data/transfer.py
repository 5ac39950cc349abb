"""Move a sampled batch to the learner's device in one host-to-device copy.

A replay batch is a ``dict`` of NumPy arrays (:meth:`~pipezero.data.ReplayBuffer.sample`).
Converting each array with ``torch.as_tensor(..., device="cuda")`` costs one synchronous copy
per key (ten to twenty per batch), and converting ``uint8`` frames to float32 *before* the
copy moves four times the bytes. :func:`arrays_to_device` instead packs every array, in its
own dtype, into one page-locked (pinned) staging buffer and sends it with a single
non-blocking copy; each key is then a view of the device buffer, cast on the device.

:class:`DeviceBatch` is the batch as the policies see it: still the ``dict`` of NumPy arrays
(host code such as target assembly and augmentation keeps working on it), plus the device
copy of every array, which :func:`batch_tensor` hands out. A key whose array was replaced
after the move (``batch[key] = new``) is converted afresh, so a stale device copy is never
used.

On the CPU nothing is copied: the tensors share memory with the arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

#: Byte alignment of each array inside the staging buffer (any dtype's itemsize divides it).
_ALIGN = 16


def arrays_to_device(
    arrays: Mapping[str, np.ndarray], device: torch.device | str, *, pack: bool | None = None
) -> dict[str, torch.Tensor]:
    """``{key: tensor}`` on ``device`` for every numeric NumPy array of ``arrays``.

    Args:
        arrays: NumPy arrays by name; values that are not numeric arrays are left out.
        device: the target device. For ``cpu`` the tensors share memory with the arrays;
            for an accelerator all arrays travel in one pinned, non-blocking copy.
        pack: force (``True``) or skip (``False``) the one-buffer packing; default: pack
            for any device but the CPU. Packing on the CPU is for tests.

    Returns:
        Tensors with the arrays' shapes and dtypes (no dtype conversion here).
    """
    device = torch.device(device)
    numeric = {
        k: np.ascontiguousarray(v)
        for k, v in arrays.items()
        if isinstance(v, np.ndarray) and (v.dtype.kind in "biuf")
    }
    if not (device.type != "cpu" if pack is None else pack):
        return {k: torch.from_numpy(v) for k, v in numeric.items()}
    offsets, total = {}, 0
    for key, value in numeric.items():
        offsets[key] = total
        total += -(-value.nbytes // _ALIGN) * _ALIGN
    staging = torch.empty(max(total, 1), dtype=torch.uint8, pin_memory=device.type == "cuda")
    host = staging.numpy()
    for key, value in numeric.items():
        start = offsets[key]
        host[start : start + value.nbytes] = value.reshape(-1).view(np.uint8)
    # The pinned allocator keeps ``staging`` alive until this copy has finished.
    moved = staging.to(device, non_blocking=True)
    out = {}
    for key, value in numeric.items():
        start = offsets[key]
        dtype = torch.from_numpy(value[:0].reshape(-1)).dtype
        out[key] = moved[start : start + value.nbytes].view(dtype).view(value.shape)
    return out


class DeviceBatch(dict):
    """A sampled batch (``{key: np.ndarray}``) with a copy of every array on ``device``.

    Args:
        arrays: the batch, e.g. ``ReplayBuffer.sample(...)`` plus arrays derived from it on
            the host.
        device: the learner's device; all arrays travel in one copy
            (:func:`arrays_to_device`).

    Example:
        >>> batch = DeviceBatch(buffer.sample(256), "cuda")
        >>> obs = batch_tensor(batch, "obs", "cuda", torch.float32)  # uint8 cast on the GPU
    """

    def __init__(self, arrays: Mapping[str, Any], device: torch.device | str) -> None:
        super().__init__(arrays)
        self.device = torch.device(device)
        self._sources = {k: v for k, v in self.items() if isinstance(v, np.ndarray)}
        self.tensors = arrays_to_device(self._sources, self.device)

    def replace(self, **arrays: np.ndarray) -> DeviceBatch:
        """A copy with ``arrays`` replacing (or adding) keys; only those travel again."""
        new = DeviceBatch.__new__(DeviceBatch)
        dict.__init__(new, self)
        new.update(arrays)
        new.device = self.device
        new._sources = {**self._sources, **arrays}
        new.tensors = {**self.tensors, **arrays_to_device(arrays, self.device)}
        return new

    def tensor(self, key: str) -> torch.Tensor | None:
        """The device copy of ``batch[key]``, or ``None`` when it has none or the array was
        replaced since the move."""
        if key in self.tensors and self._sources.get(key) is dict.get(self, key):
            return self.tensors[key]
        return None


def batch_tensor(
    batch: Mapping[str, Any],
    key: str,
    device: torch.device | str,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """``batch[key]`` as a tensor on ``device`` (cast to ``dtype`` there when given).

    Takes the copy a :class:`DeviceBatch` already moved when there is one; a plain ``dict``
    (or a key set after the move) is converted with ``torch.as_tensor``.
    """
    device = torch.device(device)
    moved = batch.tensor(key) if isinstance(batch, DeviceBatch) else None
    if moved is not None and batch.device == device:
        return moved if dtype is None else moved.to(dtype)
    value = batch[key]
    if dtype is not None and isinstance(value, np.ndarray) and value.dtype.itemsize < 4:
        # small integer frames: copy the compact array, cast on the device
        return torch.as_tensor(value, device=device).to(dtype)
    return torch.as_tensor(value, dtype=dtype, device=device)
