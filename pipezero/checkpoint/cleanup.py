"""Leftovers of interrupted checkpoint writes, removed when a run starts or resumes.

A process killed while writing a checkpoint (see :func:`pipezero.checkpoint.save_checkpoint`)
can leave:

- a temporary file ``.<name>.<random>.tmp`` (a partial or complete checkpoint, buffer or
  manifest that was never renamed into place);
- an orphan replay buffer ``<stem>.buffer-<id>.npz`` that no checkpoint names (the new buffer
  of a checkpoint that never replaced the old one, or the old buffer of one that did);
- an orphan manifest ``<stem>.manifest.json`` whose checkpoint ``<stem>.pt`` does not exist
  (a periodic checkpoint killed before its first rename, or pruned halfway).

At Atari scale an orphan buffer is a whole replay buffer, so these are removed, each with one
log line.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from pipezero.checkpoint.atomic import is_temporary
from pipezero.checkpoint.files import checkpoint_dir, load_checkpoint
from pipezero.checkpoint.manifest import MANIFEST_SUFFIX

__all__ = ["remove_leftovers"]

logger = logging.getLogger(__name__)

_BUFFER_RE = re.compile(r"^(?P<stem>.+)\.buffer-[0-9a-f]+\.npz$")


def _remove(path: Path, why: str) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    logger.info("removed %s: %s", path, why)
    return True


def remove_leftovers(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Delete what interrupted checkpoint writes left in ``RUN_DIR/ckpt`` (see the module
    doc); return the paths removed.

    A buffer whose checkpoint cannot be read is kept (with a warning), since it cannot be
    told whether that checkpoint names it. Call it only while no checkpoint of the run is
    being written (``resume`` and ``ckpt_saver`` call it when a run starts or resumes).
    """
    directory = checkpoint_dir(run_dir)
    if not directory.is_dir():
        return []
    removed = []
    files = sorted(p for p in directory.iterdir() if p.is_file())
    for path in files:
        if is_temporary(path.name) and _remove(
            path, "temporary file of an interrupted checkpoint write"
        ):
            removed.append(path)
    checkpoints = {p.stem: p for p in files if p.suffix == ".pt" and not is_temporary(p.name)}
    named: set[str] = set()
    unreadable: set[str] = set()
    for stem, path in checkpoints.items():
        try:
            buffer_file = load_checkpoint(path, mmap=True, verify=False).get("buffer_file")
        except (ValueError, OSError):
            unreadable.add(stem)
            continue
        if buffer_file:
            named.add(buffer_file)
    for path in files:
        match = _BUFFER_RE.match(path.name)
        if match is None or path.name in named:
            continue
        if match.group("stem") in unreadable:
            logger.warning(
                "kept replay buffer %s: its checkpoint %s cannot be read, so whether it "
                "names this buffer is unknown",
                path,
                checkpoints[match.group("stem")].name,
            )
        elif _remove(path, "orphan replay buffer, no checkpoint names it"):
            removed.append(path)
    for path in files:
        if path.name.endswith(MANIFEST_SUFFIX):
            stem = path.name[: -len(MANIFEST_SUFFIX)]
            if stem not in checkpoints and _remove(path, "manifest of a missing checkpoint"):
                removed.append(path)
    return removed
