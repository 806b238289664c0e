"""Read-only looks into Lotse's database for ``lotse doctor``, safe while the bot runs.

A separate read-only SQLite connection: it never migrates, never writes, never creates a file.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path


def _connect(path: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10))


def quick_check(path: Path) -> str:
    """SQLite's quick integrity check: "ok", or what is wrong."""
    with _connect(path) as conn:
        return str(conn.execute("PRAGMA quick_check").fetchone()[0])


def schema_version(path: Path) -> int:
    with _connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def rooms_of_kind(path: Path, kind: str) -> list[str]:
    """Rooms on the homeserver the bot keeps as ``kind`` (the demo's made-up rooms left out)."""
    with _connect(path) as conn:
        rows = conn.execute(
            "SELECT room_id FROM room WHERE kind = ? AND synthetic = 0 ORDER BY room_id", (kind,)
        ).fetchall()
    return [str(r[0]) for r in rows]
