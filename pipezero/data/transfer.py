"""Move a sampled batch to the learner's device in one host-to-device copy.

A replay batch (:class:`~pipezero.data.batch.Batch`) holds ten to twenty NumPy arrays.
Converting each with ``torch.as_tensor(..., device="cuda")`` costs one synchronous copy per
array, and converting ``uint8`` frames to float32 *before* the copy moves four times the
bytes. :func:`arrays_to_device` instead packs every array, in its own dtype, into one
page-locked (pinned) staging buffer and sends it with a single non-blocking copy; each array
is then a view of the device buffer, cast on the device.

:class:`DeviceBatch` is the batch as the policies see it: the host arrays (augmentation,
target assembly and reanalysis work on them) and their device copy. Both are frozen
dataclasses, so a field replaced after the move goes through :meth:`DeviceBatch.replace`,
which moves the new array too: a stale device copy is never used.

On the CPU nothing is copied: the tensors share memory with the arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from pipezero.data.batch import Batch

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


@dataclass(frozen=True)
class DeviceBatch:
    """A sampled batch on the host and its copy on the learner's device.

    Host code (augmentation, loss masks, reanalysis) reads :attr:`host`; the losses read
    :attr:`tensors`, which :meth:`move` sent in one copy.

    Attributes:
        host: the NumPy arrays (:class:`~pipezero.data.batch.Batch`).
        tensors: the same fields as tensors on the device, each in its array's dtype.

    Example:
        >>> batch = DeviceBatch.move(buffer.sample(256), "cuda")
        >>> obs = batch.tensors.obs.float()  # uint8 frames cast on the GPU
    """

    host: Batch[np.ndarray]
    tensors: Batch[torch.Tensor]

    @classmethod
    def move(cls, host: Batch[np.ndarray], device: torch.device | str) -> DeviceBatch:
        """``host`` and its copy on ``device`` (:meth:`Batch.to`: one host-to-device copy)."""
        return cls(host, host.to(device))

    @property
    def device(self) -> torch.device:
        """Where :attr:`tensors` live."""
        return self.tensors.obs.device

    def replace(self, **arrays: np.ndarray) -> DeviceBatch:
        """A copy with the given host fields replaced; only those travel to the device."""
        moved = arrays_to_device(arrays, self.device)
        return DeviceBatch(self.host.replace(**arrays), self.tensors.replace(**moved))


def as_device_tensor(
    array: np.ndarray, device: torch.device | str, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """``array`` as a tensor on ``device``, cast to ``dtype`` there when given: small integer
    arrays (``uint8`` frames) travel in their compact dtype and are cast on the device."""
    if dtype is not None and array.dtype.itemsize < 4:
        return torch.as_tensor(array, device=device).to(dtype)
    return torch.as_tensor(array, dtype=dtype, device=device)
