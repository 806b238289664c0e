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


class ExposedFiles(RuntimeError):
    """Files only the bot may read are readable by others; the message says which and the fix."""


def exposed_files(data_dir: Path, extra: list[Path]) -> list[tuple[Path, int]]:
    """Files in the data directory (keys, session, encryption store, database) and the key files
    kept elsewhere that the file's group or others can read, with their modes."""
    found: list[tuple[Path, int]] = []
    candidates = [p for p in data_dir.rglob("*") if p.is_file()] if data_dir.is_dir() else []
    for path in [*candidates, *(p for p in extra if p.is_file())]:
        with contextlib.suppress(OSError):  # gone meanwhile (a journal)
            mode = path.stat().st_mode & 0o777
            if mode & 0o044:
                found.append((path, mode))
    return found


def refuse_exposed(data_dir: Path, extra: list[Path]) -> None:
    """Refuse to run while a key or the store is readable by others: someone may have read them
    already, and the admin must know (and decide about new keys) rather than the bot quietly
    tightening the mode."""
    found = exposed_files(data_dir, extra)
    if not found:
        return
    shown = ", ".join(f"{path} ({mode:04o})" for path, mode in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    raise ExposedFiles(
        f"readable by others: {shown}{more}. Only the bot's user may read them: check who could "
        f"have read them, then run `chmod -R go-rwx {data_dir}` (and the same on key files kept "
        "elsewhere) and start Lotse again"
    )
