"""One demo per data folder: a lock held for the demo's lifetime, and no orphans after a crash.

The lock is an ``flock`` on ``demo.pid`` (the file also names the holder's process ID, for
people). The kernel drops the lock when the process dies however it dies, so a stale file
never blocks a new start. A Synapse left behind by a demo that was killed outright is found
through the pid file the demo keeps for it and stopped before a new one is started on the same database.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from pathlib import Path


class DemoRunning(Exception):
    """Another demo already uses this folder."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(pid)
        self.pid = pid


class DemoLock:
    def __init__(self, directory: Path) -> None:
        self.path = directory / "demo.pid"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise DemoRunning(int(holder) if holder.isdigit() else None) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        # Still holding the lock: nobody else can be relying on this file now.
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop_orphaned_synapse(synapse_dir: Path, timeout: float = 15.0) -> int | None:
    """Stop a Synapse that a crashed demo left running on this folder; return its pid if one was.

    Only a process whose command line names this folder's config is touched: a recycled pid
    belonging to anything else is left alone.
    """
    pid_file = synapse_dir / "synapse.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if str(synapse_dir / "homeserver.yaml") not in _cmdline(pid):
        pid_file.unlink(missing_ok=True)
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _cmdline(pid):
        time.sleep(0.1)
    if _cmdline(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return pid
