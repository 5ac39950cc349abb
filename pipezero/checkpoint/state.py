"""Checkpoint contents: what is captured from a run (counters, policy, random generators)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import torch

from pipezero.checkpoint.files import FORMAT_VERSION
from pipezero.checkpoint.plain import encode_numpy
from pipezero.framework import Context

__all__ = [
    "Stateful",
    "build_state",
    "capture_rng_state",
    "eval_mean_return",
    "restore_rng_state",
]

logger = logging.getLogger(__name__)

#: Persistent context fields that describe one run only and are not restored.
_NOT_SAVED = frozenset({"finish_reason"})


class Stateful(Protocol):
    """What a checkpoint needs from a policy (a subset of ``PolicyProtocol``)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        ...


# -- random number generators ---------------------------------------------------------------


def capture_rng_state() -> dict[str, Any]:
    """States of Python ``random``, NumPy's global generator and torch, as plain values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.array(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators captured by :func:`capture_rng_state`."""
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    np_state = state["numpy"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(
        (np_state["kind"], keys, np_state["pos"], np_state["has_gauss"], np_state["gauss"])
    )
    torch.set_rng_state(state["torch"])
    cuda_states = state.get("torch_cuda")
    if cuda_states is not None:
        if torch.cuda.is_available() and torch.cuda.device_count() == len(cuda_states):
            torch.cuda.set_rng_state_all(cuda_states)
        else:
            logger.warning(
                "checkpoint holds RNG states of %d CUDA device(s) but %d are available; CUDA "
                "random streams are not restored",
                len(cuda_states),
                torch.cuda.device_count() if torch.cuda.is_available() else 0,
            )


# -- evaluation score -----------------------------------------------------------------------


def eval_mean_return(result: Any) -> float:
    """The mean evaluation return of an ``eval_result``.

    Accepted: a number, a mapping with key ``"return_mean"``, or an object with attribute
    ``return_mean``.

    Raises:
        TypeError: ``result`` is none of those.
    """
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        return float(result)
    if isinstance(result, Mapping) and "return_mean" in result:
        return float(result["return_mean"])
    if hasattr(result, "return_mean"):
        return float(result.return_mean)
    shown = list(result) if isinstance(result, Mapping) else type(result).__name__
    raise TypeError(
        f"cannot find the mean return in eval_result {shown!r}; the evaluator "
        f"must report it as eval_result['return_mean'] (or attribute return_mean, or a number)"
    )


# -- capturing and restoring ----------------------------------------------------------------


def build_state(
    ctx: Context,
    policy: Stateful,
    *,
    kind: str,
    reason: str | None = None,
    eval_return: float | None = None,
    run_state: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Collect what a checkpoint holds (see the module doc) from ``ctx``, ``policy`` and the
    global random generators.

    Args:
        ctx: the run's context; its persistent fields are saved (``finish_reason`` excepted).
        policy: saved through ``policy.state_dict()``.
        kind: ``"periodic"``, ``"best"``, ``"final"`` or ``"recovery"`` (any other label is
            kept as given).
        reason: why the run finished (final) or failed (recovery).
        eval_return: the mean evaluation return that made this the best checkpoint.
        run_state: the states of the task's state providers (``task.state_providers.
            state_dict()``: a collector's unfinished segments and environments), stored
            under ``"run_state"`` with their NumPy values encoded (:func:`encode_numpy`).
    """
    counters = {
        name: getattr(ctx, name) for name in type(ctx).persistent_fields() if name not in _NOT_SAVED
    }
    return {
        "format_version": FORMAT_VERSION,
        "meta": {
            "kind": kind,
            "reason": reason,
            "eval_return": eval_return,
            "time": time.time(),
            "torch": str(torch.__version__),
        },
        "counters": counters,
        "policy": policy.state_dict(),
        "rng": capture_rng_state(),
        "run_state": encode_numpy(dict(run_state or {})),
        "buffer_file": None,
    }
