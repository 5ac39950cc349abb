"""Checkpoint files: run-directory layout, atomic writing, reading, finding the newest."""

from __future__ import annotations

import logging
import os
import re
import uuid
import zipfile
from pathlib import Path
from typing import Any

import torch

from pipezero.checkpoint.atomic import fsync_dir, write_temporary
from pipezero.checkpoint.manifest import (
    CheckpointIntegrityError,
    ManifestEntry,
    describe_file,
    read_manifest,
    verify_checkpoint_file,
    write_manifest,
)
from pipezero.data.replay_buffer import ReplayBuffer

__all__ = [
    "BEST_NAME",
    "CKPT_DIR",
    "FINAL_NAME",
    "FORMAT_VERSION",
    "RECOVERY_NAME",
    "buffer_files",
    "checkpoint_dir",
    "latest_checkpoint",
    "load_checkpoint",
    "periodic_checkpoints",
    "periodic_name",
    "resumable_checkpoints",
    "save_checkpoint",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: Sub-directory of a run directory holding its checkpoints.
CKPT_DIR = "ckpt"
BEST_NAME = "best.pt"
FINAL_NAME = "final.pt"
#: Written when a middleware raised; never picked by :func:`latest_checkpoint`.
RECOVERY_NAME = "recovery.pt"
_PERIODIC_RE = re.compile(r"^iter_(\d+)\.pt$")
_REQUIRED_KEYS = ("format_version", "meta", "counters", "policy", "rng")


# -- layout ---------------------------------------------------------------------------------


def checkpoint_dir(run_dir: str | os.PathLike[str]) -> Path:
    """``RUN_DIR/ckpt``, where a run's checkpoints live."""
    return Path(run_dir) / CKPT_DIR


def periodic_name(train_iter: int) -> str:
    """File name of the periodic checkpoint taken at ``train_iter``: ``iter_00001000.pt``."""
    return f"iter_{int(train_iter):08d}.pt"


def periodic_checkpoints(ckpt_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """``(train_iter, path)`` of the periodic checkpoints in ``ckpt_dir``, oldest first."""
    found = []
    directory = Path(ckpt_dir)
    if directory.is_dir():
        for path in directory.iterdir():
            match = _PERIODIC_RE.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
    return sorted(found)


def buffer_files(ckpt_path: str | os.PathLike[str]) -> list[Path]:
    """Replay buffer files saved beside the checkpoint ``ckpt_path`` (current and stale)."""
    path = Path(ckpt_path)
    return sorted(path.parent.glob(f"{path.stem}.buffer-*.npz"))


# -- writing and reading --------------------------------------------------------------------


def save_checkpoint(
    path: str | os.PathLike[str],
    state: dict[str, Any],
    buffer: ReplayBuffer | None = None,
) -> Path:
    """Write ``state`` (from :func:`build_state`) to ``path`` atomically, with its manifest.

    With ``buffer``, the buffer is written beside the checkpoint under a fresh name
    (``<stem>.buffer-<id>.npz``, via ``ReplayBuffer.save``) and ``state["buffer_file"]`` names
    it. The manifest ``<stem>.manifest.json`` records the size and sha256 of both files. The
    writes are ordered so that a kill at any moment leaves the old pair or the new pair
    intact (plus leftovers that :func:`remove_leftovers` deletes):

    1. the new buffer file (temporary file renamed to its fresh name);
    2. the checkpoint into a synced temporary file;
    3. the manifest, listing the old pair *and* the new one;
    4. the temporary checkpoint renamed over ``path``;
    5. the manifest, listing the new pair only;
    6. buffer files the previous version of ``path`` used are removed.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        old_entries = read_manifest(path) or []
    except CheckpointIntegrityError as exc:
        logger.warning("%s; it is rewritten with the new checkpoint", exc)
        old_entries = []
    state = dict(state)
    new_buffer: Path | None = None
    tmp: Path | None = None
    try:
        buffer_sha: str | None = None
        buffer_size: int | None = None
        if buffer is not None:
            new_buffer = path.parent / f"{path.stem}.buffer-{uuid.uuid4().hex[:8]}.npz"
            buffer.save(new_buffer)
            buffer_sha, buffer_size = describe_file(new_buffer)
        state["buffer_file"] = None if new_buffer is None else new_buffer.name
        tmp = write_temporary(path, lambda f: torch.save(state, f))
        sha, size = describe_file(tmp)
        entry = ManifestEntry(
            sha, size, state["buffer_file"], buffer_sha256=buffer_sha, buffer_size=buffer_size
        )
        write_manifest(path, [*old_entries, entry])
        os.replace(tmp, path)
    except BaseException:
        # once the rename happened (tmp is gone), the new pair is in place and stays
        if tmp is None or tmp.exists():
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            if new_buffer is not None:
                new_buffer.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    write_manifest(path, [entry])
    for stale in buffer_files(path):
        if stale != new_buffer:
            stale.unlink(missing_ok=True)
    logger.debug("checkpoint written: %s", path)
    return path


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    weights_only: bool = True,
    mmap: bool = False,
    verify: bool = True,
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors land on the CPU).

    Args:
        path: the checkpoint file.
        weights_only: load with torch's restricted unpickler (tensors, containers, numbers,
            strings). Pass ``False`` only for a file you trust whose policy state holds other
            Python objects.
        mmap: map tensors from the file instead of reading them (cheap look at ``meta``).
        verify: check the file against its manifest first (sha256; a file without manifest
            against its zip CRCs); ``False`` for a cheap look at ``meta`` or ``counters``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointIntegrityError: the file is damaged (a :class:`ValueError`).
        ValueError: the file is not a pipezero checkpoint, or has another format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist (or is not a file)")
    if not zipfile.is_zipfile(path):
        raise CheckpointIntegrityError(
            f"cannot read checkpoint {path}: not a torch.save archive (damaged, truncated or "
            f"another kind of file); resume from another checkpoint of the run"
        )
    if verify:
        verify_checkpoint_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=weights_only, mmap=mmap)
    except Exception as exc:
        text = str(exc)
        unsupported = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if weights_only and unsupported:
            raise ValueError(
                f"cannot read checkpoint {path}: it holds a {unsupported.group(1)} object, "
                f"which weights_only loading refuses; if you trust the file, load it with "
                f"weights_only=False"
            ) from exc
        first = text.strip().splitlines()[0] if text.strip() else ""
        raise CheckpointIntegrityError(
            f"cannot read checkpoint {path}: {type(exc).__name__}: {first}"
        ) from exc
    missing = [k for k in _REQUIRED_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(
            f"{path} is not a pipezero checkpoint: missing {missing} (a checkpoint written by "
            f"pipezero.checkpoint.save_checkpoint holds {list(_REQUIRED_KEYS)})"
        )
    if state["format_version"] != FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {path} has format version {state['format_version']}, this pipezero "
            f"reads version {FORMAT_VERSION}; resume it with the pipezero version that wrote it"
        )
    return state


def _recency(state: dict[str, Any]) -> tuple[float, ...]:
    counters = state["counters"]
    return (
        counters.get("train_iter", 0),
        counters.get("env_step", 0),
        counters.get("task_step", 0),
        float(state["meta"].get("kind") == "final"),
    )


def resumable_checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """The checkpoints a run can resume from, newest first.

    Candidates are ``RUN_DIR/ckpt/final.pt`` and the periodic ``RUN_DIR/ckpt/iter_*.pt``
    (``best.pt`` is for evaluation and ``recovery.pt`` for inspection, not for resuming),
    ordered by ``(train_iter, env_step, task_step)``, the final one first on a tie. Files that
    cannot be read at all are skipped with a warning; the others are not verified here
    (:func:`pipezero.checkpoint.resume` verifies each pair before loading it).
    """
    directory = checkpoint_dir(run_dir)
    candidates = [p for _, p in periodic_checkpoints(directory)]
    if (directory / FINAL_NAME).is_file():
        candidates.append(directory / FINAL_NAME)
    ranked: list[tuple[tuple[float, ...], Path]] = []
    for path in candidates:
        try:
            ranked.append((_recency(load_checkpoint(path, mmap=True, verify=False)), path))
        except (ValueError, OSError) as exc:
            logger.warning("skipping unreadable checkpoint %s: %s", path, exc)
    ranked.sort(key=lambda item: item[0], reverse=True)
    return [path for _, path in ranked]


def latest_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """The newest resumable checkpoint of a run (see :func:`resumable_checkpoints`), or
    ``None`` if it has none. It is not verified: :func:`pipezero.checkpoint.resume` checks
    it and falls back to an older one if it is damaged."""
    found = resumable_checkpoints(run_dir)
    return found[0] if found else None
