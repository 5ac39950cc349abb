"""NumPy values in checkpoints: encoded as bytes so torch's restricted unpickler reads them.

Checkpoints are loaded with ``weights_only=True``, which reads numbers, strings, bytes,
containers and tensors but refuses NumPy arrays and scalars. Run state from the providers
(a collector's unfinished segments, environment snapshots) holds many of them:
:func:`encode_numpy` turns each into a small dict of its bytes (a ``uint8`` tensor), dtype
and shape, and :func:`decode_numpy` turns them back, exactly (any fixed-size dtype, byte
order included).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["decode_numpy", "encode_numpy"]

_ARRAY = "__ndarray__"
_SCALAR = "__npscalar__"


def encode_numpy(value: Any) -> Any:
    """``value`` with every NumPy array and scalar (in nested dicts, lists and tuples)
    replaced by ``{"__ndarray__": uint8 tensor of its bytes, "dtype": str, "shape": [...]}``
    (scalars: ``"__npscalar__"``); tensors and plain values are kept (``bytes`` too, though
    ``weights_only`` loading refuses all but short ones: keep bytes in arrays).

    Raises:
        TypeError: an object array, or a value of another type (the message gives its path).
    """
    return _encode(value, "state")


def _encode(value: Any, path: str) -> Any:
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise TypeError(f"{path}: object arrays cannot be saved in a checkpoint")
        key = _ARRAY if isinstance(value, np.ndarray) else _SCALAR
        raw = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        return {
            key: torch.from_numpy(raw.copy()),
            "dtype": array.dtype.str,
            "shape": list(array.shape),
        }
    if isinstance(value, dict):
        return {k: _encode(v, f"{path}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if value is None or isinstance(value, bool | int | float | complex | str | bytes):
        return value
    if isinstance(value, torch.Tensor):
        return value
    raise TypeError(
        f"{path}: a {type(value).__name__} cannot be saved in a checkpoint (plain data, NumPy "
        f"values and tensors only); return it as plain data from state_dict()"
    )


def decode_numpy(value: Any) -> Any:
    """Undo :func:`encode_numpy`: arrays come back writable, scalars as NumPy scalars."""
    if isinstance(value, dict):
        if _ARRAY in value or _SCALAR in value:
            raw = value.get(_ARRAY, value.get(_SCALAR)).numpy()
            array = raw.view(np.dtype(value["dtype"])).reshape(value["shape"])
            return array.copy() if _ARRAY in value else array[()]
        return {k: decode_numpy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_numpy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(decode_numpy(v) for v in value)
    return value
