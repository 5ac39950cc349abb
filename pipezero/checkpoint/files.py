"""Checkpoint files: run-directory layout, atomic writing, reading, finding the newest."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

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


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _file_mode() -> int:
    """The mode ``open()`` gives a new file under the process's umask (``mkstemp`` would
    give 0600 whatever the umask)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through a synced temporary file renamed over it; no partial file stays.
    The file gets the permissions a plain ``open()`` would give it (the umask applies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, _file_mode())
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def save_checkpoint(
    path: str | os.PathLike[str],
    state: dict[str, Any],
    buffer: ReplayBuffer | None = None,
) -> Path:
    """Write ``state`` (from :func:`build_state`) to ``path`` atomically.

    With ``buffer``, the buffer is first written beside the checkpoint
    (``<stem>.buffer-<id>.npz``, via ``ReplayBuffer.save``) and ``state["buffer_file"]`` names
    it; buffer files the previous version of ``path`` used are removed once ``path`` is
    replaced.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    state = dict(state)
    new_buffer: Path | None = None
    if buffer is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        new_buffer = path.parent / f"{path.stem}.buffer-{uuid.uuid4().hex[:8]}.npz"
        buffer.save(new_buffer)
        state["buffer_file"] = new_buffer.name
    else:
        state["buffer_file"] = None
    try:
        _atomic_write(path, lambda f: torch.save(state, f))
    except BaseException:
        if new_buffer is not None:
            new_buffer.unlink(missing_ok=True)
        raise
    for stale in buffer_files(path):
        if stale != new_buffer:
            stale.unlink(missing_ok=True)
    logger.debug("checkpoint written: %s", path)
    return path


def load_checkpoint(
    path: str | os.PathLike[str], *, weights_only: bool = True, mmap: bool = False
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors land on the CPU).

    Args:
        path: the checkpoint file.
        weights_only: load with torch's restricted unpickler (tensors, containers, numbers,
            strings). Pass ``False`` only for a file you trust whose policy state holds other
            Python objects.
        mmap: map tensors from the file instead of reading them (cheap look at ``meta``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a pipezero checkpoint, is damaged, or has another format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist (or is not a file)")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"cannot read checkpoint {path}: not a torch.save archive (damaged, truncated or "
            f"another kind of file); resume from another checkpoint of the run"
        )
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
        raise ValueError(f"cannot read checkpoint {path}: {type(exc).__name__}: {first}") from exc
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


def latest_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """The newest resumable checkpoint of a run, or ``None`` if it has none.

    Candidates are ``RUN_DIR/ckpt/final.pt`` and the periodic ``RUN_DIR/ckpt/iter_*.pt``
    (``best.pt`` is for evaluation and ``recovery.pt`` for inspection, not for resuming); the
    one with the largest ``(train_iter, env_step, task_step)`` wins, the final one on a tie.
    Unreadable files are skipped with a warning.
    """
    directory = checkpoint_dir(run_dir)
    candidates = [p for _, p in periodic_checkpoints(directory)]
    if (directory / FINAL_NAME).is_file():
        candidates.append(directory / FINAL_NAME)
    best: tuple[tuple[float, ...], Path] | None = None
    for path in candidates:
        try:
            key = _recency(load_checkpoint(path, mmap=True))
        except (ValueError, OSError) as exc:
            logger.warning("skipping unreadable checkpoint %s: %s", path, exc)
            continue
        if best is None or key > best[0]:
            best = (key, path)
    return None if best is None else best[1]
