"""The SQLite connection, the migrations runner and the single batching writer.

Migrations are ``migrations/NNNN_name.sql`` files, applied in order at start-up, each in its
own transaction together with the bump of ``PRAGMA user_version``; a database newer than the
code is refused rather than guessed at. A fresh database runs them all.

Writes go through one writer task that groups what has queued up (at most ``batch_size``
statements) into one transaction: aiosqlite costs a thread hop per await, and a commit per row
would cap throughput at a few thousand rows per second (see the performance notes). Writes are
committed in the order they were queued. Callers that need durability await the returned
future; it resolves after COMMIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite

from bot.keyfiles import private_dir

log = logging.getLogger(__name__)

Params = Sequence[Any]
_MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations_dir() -> Path:
    """Where the SQL files are: in the wheel, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_data" / "migrations", here.parent / "migrations"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("migrations directory not found")


@dataclass(frozen=True)
class Migration:
    version: int
    path: Path


def find_migrations(directory: Path) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        m = _MIGRATION_RE.match(path.name)
        if not m:
            raise ValueError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append(Migration(int(m.group(1)), path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


class SchemaTooNew(RuntimeError):
    pass


@dataclass
class _Write:
    sql: str
    params: Params | Iterable[Params]
    many: bool
    fetch: bool = False
    # Several statements that succeed or fail together (params: [(sql, params), …]).
    group: tuple[tuple[str, Params], ...] = ()
    row: sqlite3.Row | None = None
    done: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Database:
    def __init__(self, conn: aiosqlite.Connection, batch_size: int = 500):
        self.conn = conn
        self._queue: asyncio.Queue[_Write | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._batch_size = batch_size

    @classmethod
    async def open(cls, path: Path) -> Database:
        private_dir(path.parent)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=5000",
        ):
            await conn.execute(f"PRAGMA {pragma}")
        with contextlib.suppress(OSError):
            path.chmod(0o600)  # noqa: ASYNC240 - once, at start-up
        return cls(conn)

    async def schema_version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self, directory: Path | None = None) -> list[int]:
        """Apply pending migrations; return the versions applied."""
        migrations = find_migrations(directory or migrations_dir())
        current = await self.schema_version()
        latest = migrations[-1].version if migrations else 0
        if current > latest:
            raise SchemaTooNew(
                f"the database is at schema {current} but this Lotse knows only up to {latest}; "
                "run the newer Lotse or restore a backup"
            )
        applied = []
        for mig in migrations:
            if mig.version <= current:
                continue
            sql = mig.path.read_text(encoding="utf-8")
            # executescript would COMMIT first; run statement by statement inside our transaction.
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split_sql(sql):
                    await self.conn.execute(statement)
                await self.conn.execute(f"PRAGMA user_version = {mig.version}")
                await self.conn.execute("COMMIT")
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            log.info("applied migration %s", mig.path.name)
            applied.append(mig.version)
        return applied

    # -- reads -----------------------------------------------------------------------------

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self.conn.execute(sql, params) as cur:
            row: sqlite3.Row | None = await cur.fetchone()
            return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self.conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    # -- writes ----------------------------------------------------------------------------

    def start_writer(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop(), name="sqlite-writer")

    def write(self, sql: str, params: Params = ()) -> asyncio.Future[None]:
        item = _Write(sql, params, many=False)
        self._queue.put_nowait(item)
        return item.done

    def write_returning(self, sql: str, params: Params = ()) -> asyncio.Future[sqlite3.Row | None]:
        """A write whose first result row (``… RETURNING …``) the caller needs."""
        item = _Write(sql, params, many=False, fetch=True)
        self._queue.put_nowait(item)
        return item.done

    def write_many(self, sql: str, rows: Iterable[Params]) -> asyncio.Future[None]:
        item = _Write(sql, list(rows), many=True)
        self._queue.put_nowait(item)
        return item.done

    def write_atomic(self, statements: Iterable[tuple[str, Params]]) -> asyncio.Future[None]:
        """Statements that take effect together or not at all, in order."""
        item = _Write("", (), many=False, group=tuple(statements))
        self._queue.put_nowait(item)
        return item.done

    async def _write_loop(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            # Take what has queued up meanwhile, without waiting for more: an idle bot commits
            # at once, a busy one gets large transactions because writes pile up during commits.
            while len(batch) < self._batch_size and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            await self._commit(batch)
            if stop:
                return

    async def _commit(self, batch: list[_Write]) -> None:
        try:
            await self.conn.execute("BEGIN")
            for item in batch:
                if item.group:
                    for sql, params in item.group:
                        await self.conn.execute(sql, params)
                elif item.many:
                    await self.conn.executemany(item.sql, item.params)
                elif item.fetch:
                    async with self.conn.execute(item.sql, item.params) as cur:
                        item.row = await cur.fetchone()
                else:
                    await self.conn.execute(item.sql, item.params)
            await self.conn.execute("COMMIT")
        except Exception as exc:
            with contextlib.suppress(Exception):
                await self.conn.execute("ROLLBACK")
            # One bad statement must not lose the others: retry them one by one.
            if len(batch) > 1:
                for item in batch:
                    await self._commit([item])
                return
            log.error("database write failed: %s", exc)
            if not batch[0].done.done():
                batch[0].done.set_exception(exc)
            return
        for item in batch:
            if not item.done.done():
                item.done.set_result(item.row)

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        await self.write("SELECT 1")

    async def close(self) -> None:
        if self._writer is not None:
            self._queue.put_nowait(None)
            await self._writer
            self._writer = None
        await self.conn.close()


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements; sqlite3.complete_statement knows about quoting."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        if not buf.strip() and (line.strip().startswith("--") or not line.strip()):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError("migration ends with an incomplete SQL statement")
    return statements
