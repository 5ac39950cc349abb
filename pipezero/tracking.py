"""What experiment loggers record: the numbers inside nested statistics, and flat configs.

Shared by the logging middleware (TensorBoard, MLflow), which must not import each other.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["flatten_config", "scalars"]


def _scalar(value: Any) -> float | None:
    """``value`` as a float if it is one number (not a bool), else ``None``."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim == 0:
        return None if value.dtype in (np.bool_, torch.bool) else float(value.item())
    return None


def scalars(obj: Any, prefix: str) -> dict[str, float]:
    """Every number found in ``obj`` as ``{tag: value}``.

    Mappings and dataclasses are walked (``prefix/key/subkey``); a list or tuple of them is
    averaged key by key (e.g. one statistics dict per gradient update); a number gives
    ``{prefix: value}``. Booleans, strings and arrays with more than one element are skipped.
    """
    value = _scalar(obj)
    if value is not None:
        return {prefix: value}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        out: dict[str, float] = {}
        for key, item in obj.items():
            out.update(scalars(item, f"{prefix}/{key}"))
        return out
    if isinstance(obj, (list, tuple)) and obj:
        if all(_scalar(item) is not None for item in obj):
            return {}  # a plain list of numbers is data (returns, lengths), not statistics
        sums: dict[str, list[float]] = {}
        for item in obj:
            for tag, v in scalars(item, prefix).items():
                sums.setdefault(tag, []).append(v)
        return {tag: sum(vs) / len(vs) for tag, vs in sums.items()}
    return {}


def flatten_config(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as ``{"policy.model.latent_dim": "128", ...}``: dotted keys (the
    ``--set`` spelling) and ``str()`` values; an empty section gives ``{"key": "{}"}``."""
    out: dict[str, str] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if value:
                out.update(flatten_config(value, f"{name}."))
            else:
                out[name] = "{}"
        else:
            out[name] = str(value)
    return out
