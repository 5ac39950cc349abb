"""Checkpoint contents: what is captured from a run and how it is put back (resume)."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from pipezero.checkpoint.files import (
    FINAL_NAME,
    FORMAT_VERSION,
    checkpoint_dir,
    latest_checkpoint,
    load_checkpoint,
)
from pipezero.data.replay_buffer import ReplayBuffer
from pipezero.framework import Context

__all__ = [
    "Stateful",
    "build_state",
    "capture_rng_state",
    "eval_mean_return",
    "restore_rng_state",
    "restore_state",
    "resume",
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
        "buffer_file": None,
    }


def _restore_buffer(buffer: ReplayBuffer, saved: Path) -> None:
    """Load ``saved`` into ``buffer`` in place (middleware keep their reference to it)."""
    loaded = ReplayBuffer.load(saved)
    for name in ("capacity", "num_unroll_steps", "td_steps"):
        have, want = getattr(buffer, name), getattr(loaded, name)
        if have != want:
            raise ValueError(
                f"replay buffer {saved} was saved with {name}={want}, the buffer given to "
                f"resume has {name}={have}; build the buffer with the saved parameters, or "
                f"resume without a buffer (buffer=None) to start with an empty one"
            )
    vars(buffer).update(vars(loaded))


def restore_state(
    state: dict[str, Any],
    ctx: Context,
    policy: Stateful,
    buffer: ReplayBuffer | None = None,
    *,
    ckpt_path: str | os.PathLike[str],
) -> None:
    """Put a loaded checkpoint back: counters into ``ctx``, ``policy``, RNGs, ``buffer``.

    Args:
        state: from :func:`load_checkpoint`.
        ctx: receives every saved counter it declares as a persistent field.
        policy: receives ``state["policy"]`` through ``load_state_dict``.
        buffer: filled in place with the buffer saved beside the checkpoint, if any.
        ckpt_path: the checkpoint's path (locates the buffer file, names it in messages).
    """
    ckpt_path = Path(ckpt_path)
    policy.load_state_dict(state["policy"])
    fields = set(type(ctx).persistent_fields())
    for name, value in state["counters"].items():
        if name in fields:
            setattr(ctx, name, value)
        else:
            logger.warning(
                "checkpoint %s holds counter %r, which %s does not declare; it is not restored",
                ckpt_path,
                name,
                type(ctx).__name__,
            )
    restore_rng_state(state["rng"])
    if buffer is None:
        return
    if state.get("buffer_file"):
        _restore_buffer(buffer, ckpt_path.parent / state["buffer_file"])
    else:
        logger.warning(
            "checkpoint %s holds no replay buffer (saved with save_buffer=False); the buffer "
            "starts empty",
            ckpt_path,
        )


def resume(
    run_dir: str | os.PathLike[str],
    ctx: Context,
    policy: Stateful,
    buffer: ReplayBuffer | None = None,
    *,
    weights_only: bool = True,
) -> Path:
    """Continue a run from its newest checkpoint (see :func:`latest_checkpoint`).

    Restores the context counters, the policy (models, optimizer, ...), the random generators
    and, when ``buffer`` is given and the checkpoint saved one, the replay buffer (in place).
    Call it after seeding and after building the policy and buffer, before ``task.run``.

    Args:
        run_dir: the run directory (``exp_dir`` given to ``ckpt_saver``), or one checkpoint
            file to resume from exactly.
        ctx, policy, buffer: as in :func:`restore_state`.
        weights_only: see :func:`load_checkpoint`.

    Returns:
        The checkpoint resumed from.

    Raises:
        FileNotFoundError: ``run_dir`` does not exist or holds no checkpoint.
    """
    run_path = Path(run_dir)
    if run_path.is_file():
        ckpt = run_path
    else:
        if not run_path.is_dir():
            raise FileNotFoundError(
                f"cannot resume: run directory {run_path} does not exist; pass the exp_dir of "
                f"an earlier run (the directory given to ckpt_saver)"
            )
        found = latest_checkpoint(run_path)
        if found is None:
            directory = checkpoint_dir(run_path)
            present = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
            raise FileNotFoundError(
                f"cannot resume: no checkpoint in run directory {run_path}; expected "
                f"{directory / 'iter_*.pt'} or {directory / FINAL_NAME} (written by "
                f"ckpt_saver), found {present or 'nothing'} in {directory}. Check the path, "
                f"or start without --resume"
            )
        ckpt = found
    state = load_checkpoint(ckpt, weights_only=weights_only)
    restore_state(state, ctx, policy, buffer, ckpt_path=ckpt)
    logger.info(
        "resumed from %s (train_iter=%s, env_step=%s)",
        ckpt,
        state["counters"].get("train_iter"),
        state["counters"].get("env_step"),
    )
    return ckpt
