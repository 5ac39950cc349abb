"""Checkpoint manifests: the sha256 of a checkpoint file and of its replay buffer file.

``RUN_DIR/ckpt/<stem>.manifest.json`` sits beside ``<stem>.pt``::

    {"manifest_version": 1,
     "entries": [{"checkpoint_sha256": "...", "checkpoint_size": 123456,
                  "buffer_file": "<stem>.buffer-1a2b3c4d.npz" | null,
                  "buffer_sha256": "..." | null, "buffer_size": 98765 | null}]}

A checkpoint is intact when its size and sha256 equal those of one entry, and its buffer is
intact when it has that entry's size and sha256. Usually there is one entry; while a file is
being replaced the manifest lists the old and the new pair, so whichever of the two is on disk
when a process is killed verifies (see :func:`pipezero.checkpoint.save_checkpoint`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from pipezero.checkpoint.atomic import atomic_write

if TYPE_CHECKING:
    from collections.abc import Mapping

    import torch

__all__ = [
    "MANIFEST_SUFFIX",
    "CheckpointIntegrityError",
    "ManifestEntry",
    "describe_file",
    "manifest_path",
    "read_manifest",
    "state_dict_fingerprint",
    "verify_buffer_file",
    "verify_checkpoint_file",
    "write_manifest",
]

logger = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_VERSION = 1
_CHUNK = 1 << 20


class CheckpointIntegrityError(ValueError):
    """A file of a checkpoint pair (checkpoint, replay buffer or manifest) is damaged, missing
    or does not match its manifest. Inside a run directory, ``resume`` falls back to the
    previous intact pair on this error."""


@dataclasses.dataclass(frozen=True)
class ManifestEntry:
    """Size (bytes) and sha256 (hex) of one checkpoint file and of its buffer file."""

    checkpoint_sha256: str
    checkpoint_size: int
    buffer_file: str | None = None
    buffer_sha256: str | None = None
    buffer_size: int | None = None


def state_dict_fingerprint(state: Mapping[str, torch.Tensor]) -> str:
    """The first 16 hex digits of a sha256 over a state dict's names and tensor values, in name
    order: equal for equal weights however they were saved (a file's sha256 also covers archive
    metadata). Tells which weights a run started from, e.g. two warm starts of equal accuracy."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def manifest_path(ckpt_path: str | os.PathLike[str]) -> Path:
    """``<stem>.manifest.json`` beside the checkpoint ``<stem>.pt``."""
    path = Path(ckpt_path)
    return path.with_name(f"{path.stem}{MANIFEST_SUFFIX}")


def describe_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """``(sha256 hex digest, size in bytes)`` of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    chunk = bytearray(_CHUNK)
    view = memoryview(chunk)
    size = 0
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(chunk):
            digest.update(view[:n])
            size += n
    return digest.hexdigest(), size


def read_manifest(ckpt_path: str | os.PathLike[str]) -> list[ManifestEntry] | None:
    """The entries of the manifest of ``ckpt_path``, or ``None`` if it has no manifest.

    Raises:
        CheckpointIntegrityError: the manifest exists but cannot be read.
    """
    path = manifest_path(ckpt_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        if data["manifest_version"] != MANIFEST_VERSION:
            raise ValueError(f"manifest_version {data['manifest_version']!r}")
        return [ManifestEntry(**entry) for entry in data["entries"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointIntegrityError(
            f"manifest {path} of checkpoint {Path(ckpt_path).name} is damaged "
            f"({type(exc).__name__}: {exc}), so the checkpoint cannot be verified; resume "
            f"from the run directory to fall back to the previous intact checkpoint"
        ) from exc


def write_manifest(ckpt_path: str | os.PathLike[str], entries: list[ManifestEntry]) -> None:
    """Write the manifest of ``ckpt_path`` atomically."""
    data = {
        "manifest_version": MANIFEST_VERSION,
        "entries": [dataclasses.asdict(entry) for entry in entries],
    }
    text = json.dumps(data, indent=1).encode("utf-8")
    atomic_write(manifest_path(ckpt_path), lambda f: f.write(text))


def _check_zip_crcs(path: Path) -> None:
    """The CRC-32 of every member of a zip archive (``torch.save`` writes them; torch does not
    check them when loading)."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointIntegrityError(
            f"checkpoint {path} is damaged ({type(exc).__name__}: {exc})"
        ) from exc
    if bad is not None:
        raise CheckpointIntegrityError(
            f"checkpoint {path} is damaged: the CRC-32 of its member {bad!r} does not match"
        )


def verify_checkpoint_file(ckpt_path: str | os.PathLike[str]) -> ManifestEntry | None:
    """Check ``ckpt_path`` against its manifest; return the entry it matches.

    A checkpoint without a manifest (written before pipezero kept manifests, or copied
    without it) is only checked against the CRC-32 of its zip members, with a log line saying
    so, and ``None`` is returned.

    Raises:
        FileNotFoundError: ``ckpt_path`` does not exist.
        CheckpointIntegrityError: it matches no entry of its manifest, or is damaged.
    """
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist (or is not a file)")
    entries = read_manifest(path)
    if entries is None:
        logger.info(
            "checkpoint %s has no manifest (written by an older pipezero, or copied without "
            "%s): checked against its zip CRCs only",
            path,
            manifest_path(path).name,
        )
        _check_zip_crcs(path)
        return None
    size = path.stat().st_size
    sized = [e for e in entries if e.checkpoint_size == size]
    digest = describe_file(path)[0] if sized else None
    for entry in sized:
        if entry.checkpoint_sha256 == digest:
            return entry
    expected = ", ".join(f"{e.checkpoint_size} bytes" for e in entries) or "no entry"
    raise CheckpointIntegrityError(
        f"checkpoint {path} is damaged: its content (size {size} bytes"
        + (f", sha256 {digest[:16]}..." if digest else "")
        + f") does not match the manifest {manifest_path(path).name} written with it "
        f"({expected}). Resume from the run directory to fall back to the previous intact "
        f"checkpoint, or pass another checkpoint file"
    )


def verify_buffer_file(ckpt_path: str | os.PathLike[str], entry: ManifestEntry) -> Path:
    """Check the buffer file named by ``entry`` (beside ``ckpt_path``); return its path.

    Raises:
        CheckpointIntegrityError: the buffer file is missing or does not match ``entry``.
    """
    ckpt = Path(ckpt_path)
    if entry.buffer_file is None:
        raise ValueError(f"the manifest entry of {ckpt} names no buffer file")
    path = ckpt.parent / entry.buffer_file
    advice = (
        "Resume from the run directory to fall back to the previous intact checkpoint, or "
        "resume without a replay buffer to start with an empty one"
    )
    if not path.is_file():
        raise CheckpointIntegrityError(
            f"replay buffer {path} of checkpoint {ckpt.name} is missing. {advice}"
        )
    size = path.stat().st_size
    digest = describe_file(path)[0] if size == entry.buffer_size else None
    if digest is None or digest != entry.buffer_sha256:
        raise CheckpointIntegrityError(
            f"replay buffer {path} of checkpoint {ckpt.name} is damaged: its content (size "
            f"{size} bytes) does not match the manifest {manifest_path(ckpt).name} written "
            f"with it (size {entry.buffer_size} bytes). {advice}"
        )
    return path
