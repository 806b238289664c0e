"""Writing key and secret files so that they survive a power cut and nobody else can read them.

A key that is lost after a crash means pseudonyms that no longer match, sealed IDs that cannot
be opened, or a new cross-signing identity that every client warns about. So: 0600 files in
0700 folders, written to a temporary file, fsynced, renamed into place, and the folder fsynced.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) as 0700; tighten it if it exists looser."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` durably with mode 0600. ``exclusive``: fail if the file exists (a new key
    must never overwrite an old one)."""
    private_dir(path.parent)
    if exclusive and path.exists():
        raise FileExistsError(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)  # a leftover could carry looser permissions
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if exclusive:
        os.link(tmp, path)  # fails if someone created the file meanwhile
        tmp.unlink()
    else:
        tmp.replace(path)
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be fsynced
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
