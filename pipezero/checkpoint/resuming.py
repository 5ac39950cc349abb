"""Putting a checkpoint back: verify the pair (checkpoint + replay buffer), then restore.

Nothing of a run's state is touched until both files of the pair were verified against their
manifest and read: a damaged or missing buffer never leaves a half-restored run. Inside a run
directory, :func:`resume` falls back from a damaged pair to the previous intact one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from pipezero.checkpoint.cleanup import remove_leftovers
from pipezero.checkpoint.files import (
    FINAL_NAME,
    checkpoint_dir,
    load_checkpoint,
    resumable_checkpoints,
)
from pipezero.checkpoint.manifest import (
    CheckpointIntegrityError,
    read_manifest,
    verify_buffer_file,
    verify_checkpoint_file,
)
from pipezero.checkpoint.plain import decode_numpy
from pipezero.checkpoint.state import Stateful, restore_rng_state
from pipezero.data.replay_buffer import ReplayBuffer
from pipezero.framework import Context, StateProviders

__all__ = ["load_pair", "restore_state", "resume"]

logger = logging.getLogger(__name__)


def _read_buffer(path: Path, ckpt_path: Path) -> ReplayBuffer:
    """``ReplayBuffer.load`` with its errors (missing file, bad zip, bad CRC, numpy's pickle
    advice, missing member) turned into one :class:`CheckpointIntegrityError`."""
    if not path.is_file():
        raise CheckpointIntegrityError(
            f"replay buffer {path} of checkpoint {ckpt_path.name} is missing; resume from the "
            f"run directory to fall back to the previous intact checkpoint, or resume without "
            f"a replay buffer to start with an empty one"
        )
    try:
        return ReplayBuffer.load(path)
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise CheckpointIntegrityError(
            f"replay buffer {path} of checkpoint {ckpt_path.name} is damaged "
            f"({type(exc).__name__}: {text[0] if text else ''}); resume from the run directory "
            f"to fall back to the previous intact checkpoint, or resume without a replay "
            f"buffer to start with an empty one"
        ) from exc


def _load_buffer(
    state: dict[str, Any], ckpt_path: Path, buffer: ReplayBuffer
) -> ReplayBuffer | None:
    """The replay buffer saved beside ``ckpt_path``, verified against the manifest when the
    checkpoint has one, and checked to fit ``buffer``; ``None`` if it saved none."""
    name = state.get("buffer_file")
    if not name:
        return None
    entries = read_manifest(ckpt_path) or []
    entry = next((e for e in entries if e.buffer_file == name), None)
    path = ckpt_path.parent / name
    if entry is not None:
        verify_buffer_file(ckpt_path, entry)
    elif entries:
        raise CheckpointIntegrityError(
            f"checkpoint {ckpt_path} names replay buffer {name}, which its manifest does not "
            f"list; the pair is inconsistent. Resume from the run directory to fall back to "
            f"the previous intact checkpoint"
        )
    loaded = _read_buffer(path, ckpt_path)
    for key in ("capacity", "num_unroll_steps", "td_steps"):
        have, want = getattr(buffer, key), getattr(loaded, key)
        if have != want:
            raise ValueError(
                f"replay buffer {path} was saved with {key}={want}, the buffer given to "
                f"resume has {key}={have}; build the buffer with the saved parameters, or "
                f"resume without a buffer (buffer=None) to start with an empty one"
            )
    return loaded


def load_pair(
    ckpt_path: str | os.PathLike[str],
    buffer: ReplayBuffer | None = None,
    *,
    weights_only: bool = True,
) -> tuple[dict[str, Any], ReplayBuffer | None]:
    """Verify and read a checkpoint and, when ``buffer`` is given, the buffer saved with it.

    Returns:
        ``(state, saved_buffer)``: the checkpoint's dict and its replay buffer (``None`` when
        ``buffer`` is ``None`` or the checkpoint saved none). Nothing is restored yet.

    Raises:
        CheckpointIntegrityError: a file of the pair is damaged, missing or does not match its
            manifest (the message names it).
        ValueError: the checkpoint is not a pipezero checkpoint, or its buffer was built with
            other parameters than ``buffer``.
    """
    path = Path(ckpt_path)
    verify_checkpoint_file(path)
    state = load_checkpoint(path, weights_only=weights_only, verify=False)
    saved = None if buffer is None else _load_buffer(state, path, buffer)
    return state, saved


def _apply(
    state: dict[str, Any],
    saved: ReplayBuffer | None,
    ctx: Context,
    policy: Stateful,
    buffer: ReplayBuffer | None,
    ckpt_path: Path,
    providers: StateProviders | None,
) -> None:
    run_state = decode_numpy(state.get("run_state") or {})
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
    if buffer is not None:
        if saved is not None:
            vars(buffer).update(vars(saved))  # in place: middleware keep their reference
        else:
            logger.warning(
                "checkpoint %s holds no replay buffer (saved with save_buffer=False); the "
                "buffer starts empty",
                ckpt_path,
            )
    if providers is not None and run_state and not _is_writer():
        # the run state is rank 0's (its collector, its environments): another rank that
        # took it would collect the same episodes as rank 0
        logger.info(
            "rank %d does not take the checkpoint's run state (%s: rank 0's); its collector "
            "starts new episodes",
            torch.distributed.get_rank(),
            ", ".join(run_state),
        )
    elif providers is not None:
        providers.load_state_dict(run_state)
    elif run_state:
        logger.warning(
            "checkpoint %s holds the run state of %s (unfinished game segments, environments); "
            "it is not restored: pass providers=task.state_providers to resume to continue it",
            ckpt_path,
            ", ".join(run_state),
        )


def restore_state(
    state: dict[str, Any],
    ctx: Context,
    policy: Stateful,
    buffer: ReplayBuffer | None = None,
    *,
    ckpt_path: str | os.PathLike[str],
    providers: StateProviders | None = None,
) -> None:
    """Put a loaded checkpoint back: counters into ``ctx``, ``policy``, RNGs, ``buffer``,
    and the run state into ``providers``.

    The buffer file is verified and read first, so a damaged one raises before anything is
    restored.

    Args:
        state: from :func:`load_checkpoint`.
        ctx: receives every saved counter it declares as a persistent field.
        policy: receives ``state["policy"]`` through ``load_state_dict``.
        buffer: filled in place with the buffer saved beside the checkpoint, if any.
        ckpt_path: the checkpoint's path (locates the buffer file, names it in messages).
        providers: the task's :class:`~pipezero.framework.StateProviders`
            (``task.state_providers``): each provider registered now, or later, gets its
            saved state (a collector continues its episodes). ``None``: the run state is not
            restored (a warning says so when the checkpoint holds some).
    """
    path = Path(ckpt_path)
    saved = None if buffer is None else _load_buffer(state, path, buffer)
    _apply(state, saved, ctx, policy, buffer, path, providers)


def _is_writer() -> bool:
    """Whether this process may tidy the run directory (rank 0, or no process group)."""
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _newest_intact_pair(
    run_path: Path, buffer: ReplayBuffer | None, weights_only: bool
) -> tuple[Path, dict[str, Any], ReplayBuffer | None]:
    """The newest checkpoint of a run whose pair verifies, falling back with a warning."""
    candidates = resumable_checkpoints(run_path)
    if not candidates:
        directory = checkpoint_dir(run_path)
        present = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
        raise FileNotFoundError(
            f"cannot resume: no checkpoint in run directory {run_path}; expected "
            f"{directory / 'iter_*.pt'} or {directory / FINAL_NAME} (written by "
            f"ckpt_saver), found {present or 'nothing'} in {directory}. Check the path, "
            f"or start without --resume"
        )
    failures = []
    for ckpt in candidates:
        try:
            state, saved = load_pair(ckpt, buffer, weights_only=weights_only)
        except CheckpointIntegrityError as exc:
            failures.append(f"{ckpt.name}: {exc}")
            logger.warning("cannot resume from %s, trying an older checkpoint: %s", ckpt, exc)
            continue
        if failures:
            logger.warning(
                "resuming from %s, an older checkpoint: %d newer one(s) are damaged (see "
                "above); the run repeats the work done since",
                ckpt,
                len(failures),
            )
        return ckpt, state, saved
    raise CheckpointIntegrityError(
        f"cannot resume {run_path}: every checkpoint is damaged or misses its replay buffer:\n"
        + "\n".join(f"  {line}" for line in failures)
        + "\nResume without a replay buffer if only buffers are damaged, or start a new run"
    )


def resume(
    run_dir: str | os.PathLike[str],
    ctx: Context,
    policy: Stateful,
    buffer: ReplayBuffer | None = None,
    *,
    weights_only: bool = True,
    providers: StateProviders | None = None,
) -> Path:
    """Continue a run from its newest intact checkpoint pair.

    In a run directory, leftovers of interrupted writes are removed first
    (:func:`remove_leftovers`, on rank 0 only under ``torch.distributed``); then the newest
    checkpoint (see :func:`resumable_checkpoints`) whose file and replay buffer verify against
    their manifest is loaded, falling back to older ones with a warning. Restores the context
    counters, the policy (models, optimizer, ...), the random generators and, when ``buffer``
    is given and the checkpoint saved one, the replay buffer (in place), and with
    ``providers`` the run state of the middleware (a collector's unfinished segments, current
    observations and environments). Both files are verified and read before anything is
    restored. Call it after seeding and after building
    the policy and buffer, before ``task.run``.

    Args:
        run_dir: the run directory (``exp_dir`` given to ``ckpt_saver``), or one checkpoint
            file to resume from exactly (no fallback: a damaged pair is an error).
        ctx, policy, buffer, providers: as in :func:`restore_state`.
        weights_only: see :func:`load_checkpoint`.

    Returns:
        The checkpoint resumed from.

    Raises:
        FileNotFoundError: ``run_dir`` does not exist or holds no checkpoint.
        CheckpointIntegrityError: the checkpoint file given, or every checkpoint of the run
            directory, is damaged or misses its buffer.
    """
    run_path = Path(run_dir)
    if run_path.is_file():
        ckpt = run_path
        state, saved = load_pair(ckpt, buffer, weights_only=weights_only)
    else:
        if not run_path.is_dir():
            raise FileNotFoundError(
                f"cannot resume: run directory {run_path} does not exist; pass the exp_dir of "
                f"an earlier run (the directory given to ckpt_saver)"
            )
        if _is_writer():
            remove_leftovers(run_path)
        ckpt, state, saved = _newest_intact_pair(run_path, buffer, weights_only)
    _apply(state, saved, ctx, policy, buffer, ckpt, providers)
    logger.info(
        "resumed from %s (train_iter=%s, env_step=%s)",
        ckpt,
        state["counters"].get("train_iter"),
        state["counters"].get("env_step"),
    )
    return ckpt
