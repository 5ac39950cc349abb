"""Atomic files: write to a synced temporary file in the same directory, then rename it.

A rename within one directory is atomic, so a reader (or a process restarted after a kill)
sees either the previous file or the complete new one. A kill can leave the temporary file
behind; its name (``.<name>.<random>.tmp``, see :func:`is_temporary`) lets
:func:`pipezero.checkpoint.remove_leftovers` recognise and remove it.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "fsync_dir", "is_temporary", "replace", "write_temporary"]

#: ``.<destination name>.<random>.tmp``: the temporaries of :func:`write_temporary` and of
#: :meth:`pipezero.data.ReplayBuffer.save`.
_TEMPORARY_RE = re.compile(r"^\..+\.tmp$")


def is_temporary(name: str) -> bool:
    """Whether a file name is that of an atomic write's temporary file."""
    return bool(_TEMPORARY_RE.match(name))


def fsync_dir(directory: Path) -> None:
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


def write_temporary(path: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Write a synced temporary file beside ``path`` (to be renamed over it by
    :func:`replace`); it is removed if writing fails. The file gets the permissions a plain
    ``open()`` would give it (the umask applies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), _file_mode())
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def replace(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` over ``path`` and make the rename durable; ``tmp`` is removed if the
    rename fails."""
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through a synced temporary file renamed over it; no partial file stays."""
    replace(write_temporary(path, write), path)
