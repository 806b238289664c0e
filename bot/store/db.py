"""The store's connection, the migrations runner and the single batching writer.

Two backends behind one API: SQLite (the default, ``lotse.db`` in the data directory, through
aiosqlite) and PostgreSQL (``[store] url = "postgresql://…"``, through asyncpg), for
organisations that run Synapse on PostgreSQL and back it up centrally. The queries in
``bot/store/*.py`` are written once, in SQL both understand, with ``?`` placeholders (``?1``,
``?2`` to use a value twice); :func:`postgresql_sql` turns them into asyncpg's ``$1`` in one
place.

Migrations are ``migrations/NNNN_name.sql`` files, applied in order at start-up, each in its
own transaction together with the bump of the schema version (``PRAGMA user_version`` in
SQLite, the table ``lotse_migration`` in PostgreSQL); a database newer than the code is
refused rather than guessed at. A fresh database runs them all. For PostgreSQL a file
``migrations/postgresql/NNNN_name.sql`` is run instead where it exists (triggers, functions);
elsewhere the same file is run with SQLite's column types spelled the PostgreSQL way
(:func:`postgresql_types`).

Writes go through one writer task that groups what has queued up (at most ``batch_size``
statements) into one transaction: aiosqlite costs a thread hop per await, and a commit per row
would cap throughput at a few thousand rows per second (see the performance notes); with
PostgreSQL a commit is a network round trip. Writes are committed in the order they were
queued. Callers that need durability await the returned future; it resolves after COMMIT.
Reads run beside the writer (PostgreSQL: on a small pool of their own connections) and see
what has been committed.

When the store takes no writes at all (a full disk, a file system or database that became
read-only, a PostgreSQL server that is away), the writer keeps the batch and tries it again until
it commits, instead of dropping it: the callers that await their writes wait (the bot's worker
saving its sync token among them), so the bot takes in no more than it can keep, and nothing is
lost or recorded twice. ``on_trouble`` and ``on_recovered`` tell the bot, which tells its admins.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import aiosqlite

from bot.keyfiles import private_dir

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

Params = Sequence[Any]
SQLITE = "sqlite"
POSTGRESQL = "postgresql"
DB_FILE = "lotse.db"
_MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Serialises migrations of several Lotse processes on one PostgreSQL database ("LOTSE" in ASCII).
_MIGRATION_LOCK = 0x4C4F545345


@dataclass(frozen=True)
class StoreLocation:
    """Where a store is, so that another process can open it for reading (a period's first
    freeze counts in a process of its own): the SQLite file, or the PostgreSQL URL."""

    path: Path | None = None
    url: str | None = None
    password: str | None = field(default=None, repr=False)


@contextlib.contextmanager
def _unavailable_as(url: str) -> Iterator[None]:
    """A PostgreSQL server that cannot be reached or refuses: one line naming it (without
    its password) instead of a traceback."""
    import asyncpg

    try:
        yield
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = exc or type(exc).__name__
        raise StoreUnavailable(f"cannot open the store at {redact_url(url)}: {reason}") from None


class Row(Protocol):
    """A result row: by position or by column name (sqlite3.Row, asyncpg.Record)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...

    def keys(self) -> Any: ...


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

    def sql(self, dialect: str) -> str:
        """The file's SQL for this database: the PostgreSQL variant where there is one."""
        if dialect == POSTGRESQL:
            variant = self.path.parent / POSTGRESQL / self.path.name
            if variant.is_file():
                return variant.read_text(encoding="utf-8")
            return postgresql_types(self.path.read_text(encoding="utf-8"))
        return self.path.read_text(encoding="utf-8")


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
    variants = directory / POSTGRESQL
    if variants.is_dir():
        names = {m.path.name for m in found}
        for path in sorted(variants.iterdir()):
            if path.name not in names:
                raise ValueError(
                    f"migration variant {POSTGRESQL}/{path.name} has no migration {path.name} beside it"
                )
    return found


# SQLite's column types as PostgreSQL spells them: integers are 64 bits in SQLite (unix ms do
# not fit PostgreSQL's INTEGER), an INTEGER PRIMARY KEY numbers rows by itself, STRICT is
# what PostgreSQL always is. Upper case only, as the migrations write them.
_TYPES = (
    (
        re.compile(r"\bINTEGER PRIMARY KEY( AUTOINCREMENT)?\b"),
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\)\s*STRICT\s*;"), ");"),
)


def postgresql_types(script: str) -> str:
    """A migration written for SQLite, with its column types as PostgreSQL spells them."""
    for pattern, replacement in _TYPES:
        script = pattern.sub(replacement, script)
    return script


@functools.lru_cache(maxsize=2048)
def postgresql_sql(sql: str) -> str:
    """``?`` and ``?N`` placeholders as asyncpg's ``$N`` (SQLite's numbering: a bare ``?`` is one
    more than the largest number so far). Quoted strings, quoted names and comments are kept."""
    out: list[str] = []
    i, n, largest = 0, len(sql), 0
    while i < n:
        c = sql[i]
        if c in "'\"":
            end = i + 1
            while end < n:
                if sql[end] == c:
                    if end + 1 < n and sql[end + 1] == c:  # '' inside a string
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif c == "?":
            j = i + 1
            while j < n and sql[j].isdigit():
                j += 1
            number = int(sql[i + 1 : j]) if j > i + 1 else largest + 1
            largest = max(largest, number)
            out.append(f"${number}")
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _numeric(text: str) -> int | float:
    """PostgreSQL's NUMERIC (SUM of BIGINT) as SQLite returns it: int, or float with a fraction."""
    return float(text) if any(ch in text for ch in ".eENI") else int(text)


def redact_url(url: str) -> str:
    """A database URL fit for logs and messages: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class SchemaTooNew(RuntimeError):
    pass


class StoreUnavailable(RuntimeError):
    """The PostgreSQL store cannot be reached or refuses the login; says where and why."""


class StoreUnwritable(RuntimeError):
    """The store took no writes until the bot stopped; the write was not committed."""


# Why a store takes no writes, as the admins are told it (keys of the catalog's store.reason.*).
FULL = "full"
READ_ONLY = "read-only"
IO_ERROR = "io"
LOCKED = "locked"
AWAY = "away"
HOLD_FIRST_RETRY_S = 1.0
HOLD_MAX_RETRY_S = 30.0

_SQLITE_REASONS = {
    sqlite3.SQLITE_FULL: FULL,
    sqlite3.SQLITE_READONLY: READ_ONLY,
    sqlite3.SQLITE_IOERR: IO_ERROR,
    sqlite3.SQLITE_CANTOPEN: IO_ERROR,
    sqlite3.SQLITE_BUSY: LOCKED,
    sqlite3.SQLITE_LOCKED: LOCKED,
}


def unwritable_reason(exc: BaseException) -> str | None:
    """Why no write can commit now (a state of the store, which passes), or None when the error
    belongs to the statement (a violated constraint, a bug), which another try would repeat."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return None if code is None else _SQLITE_REASONS.get(code & 0xFF)
    state = getattr(exc, "sqlstate", None)
    if isinstance(state, str):  # asyncpg's PostgresError
        if state == "25006":  # read_only_sql_transaction: a standby, or default_transaction_read_only
            return READ_ONLY
        if state == "53100":  # disk_full
            return FULL
        if state.startswith("53"):  # insufficient resources
            return IO_ERROR
        if state.startswith(("08", "57P")):  # connection lost; server shutting down or starting
            return AWAY
        return None
    if isinstance(exc, OSError | TimeoutError) or type(exc).__name__ in (
        "ConnectionDoesNotExistError",
        "InterfaceError",
    ):
        return AWAY
    return None


@dataclass
class _Write:
    sql: str
    params: Params | Iterable[Params]
    many: bool
    fetch: bool = False
    # Several statements that succeed or fail together (params: [(sql, params), …]).
    group: tuple[tuple[str, Params], ...] = ()
    row: Row | None = None
    done: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


def _plain(item: _Write) -> bool:
    """A single statement with parameters and no result wanted."""
    return not (item.group or item.many or item.fetch) and bool(item.params)


class _Backend(Protocol):
    dialect: str

    async def fetchone(self, sql: str, params: Params) -> Row | None: ...

    async def fetchall(self, sql: str, params: Params) -> list[Row]: ...

    async def schema_version(self) -> int: ...

    async def apply(self, migration: Migration) -> bool: ...

    async def run_batch(self, batch: list[_Write]) -> None: ...

    async def close(self) -> None: ...


class _Sqlite:
    dialect = SQLITE

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def fetchone(self, sql: str, params: Params) -> Row | None:
        async with self.conn.execute(sql, params) as cur:
            row: sqlite3.Row | None = await cur.fetchone()
            return row

    async def fetchall(self, sql: str, params: Params) -> list[Row]:
        # One trip to the connection's thread, not three (execute, fetch, close): a sweep
        # pages through its rooms with hundreds of these.
        return list(await self.conn.execute_fetchall(sql, params))

    async def schema_version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def apply(self, migration: Migration) -> bool:
        statements = split_sql(migration.sql(SQLITE))
        # executescript would COMMIT first; run statement by statement inside our transaction.
        await self.conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                await self.conn.execute(statement)
            await self.conn.execute(f"PRAGMA user_version = {migration.version}")
            await self.conn.execute("COMMIT")
        except BaseException:
            await self.conn.execute("ROLLBACK")
            raise
        return True

    async def run_batch(self, batch: list[_Write]) -> None:
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
        except BaseException:
            with contextlib.suppress(Exception):
                await self.conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        await self.conn.close()


class _Postgres:
    """asyncpg: the writer on a connection of its own, reads on a small pool."""

    dialect = POSTGRESQL

    def __init__(self, url: str, password: str | None, pool: Any, writer: Any) -> None:
        self.url = url
        self.password = password
        self.pool = pool
        self.writer = writer

    @staticmethod
    async def _setup(conn: Any) -> None:
        await conn.set_type_codec(
            "numeric", schema="pg_catalog", encoder=str, decoder=_numeric, format="text"
        )

    @classmethod
    async def connect(cls, url: str, password: str | None, pool_size: int) -> _Postgres:
        import asyncpg

        writer = await cls._connect_one(url, password)
        try:
            pool = await asyncpg.create_pool(
                url, password=password, min_size=1, max_size=pool_size, init=cls._setup
            )
        except BaseException:
            await writer.close()
            raise
        return cls(url, password, pool, writer)

    @classmethod
    async def connect_reader(cls, url: str, password: str | None) -> _Postgres:
        """One connection whose transactions are read-only: a child process's, which never
        writes (the server refuses it if it tried). It serves as pool and as "writer"."""
        conn = await cls._connect_one(url, password)
        await conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        return cls(url, password, conn, conn)

    @classmethod
    async def _connect_one(cls, url: str, password: str | None) -> Any:
        import asyncpg

        conn = await asyncpg.connect(url, password=password)
        await cls._setup(conn)
        return conn

    async def _writer(self) -> Any:
        """The writer's connection; a new one if the server closed it (a restart)."""
        if self.writer.is_closed():
            log.warning("store connection lost: connecting again")
            self.writer = await self._connect_one(self.url, self.password)
        return self.writer

    async def fetchone(self, sql: str, params: Params) -> Row | None:
        row: Row | None = await self.pool.fetchrow(postgresql_sql(sql), *params)
        return row

    async def fetchall(self, sql: str, params: Params) -> list[Row]:
        return list(await self.pool.fetch(postgresql_sql(sql), *params))

    async def schema_version(self) -> int:
        conn = await self._writer()
        return await self._version(conn)

    @staticmethod
    async def _version(conn: Any) -> int:
        if await conn.fetchval("SELECT to_regclass('lotse_migration')") is None:
            return 0
        return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM lotse_migration"))

    async def apply(self, migration: Migration) -> bool:
        sql = migration.sql(POSTGRESQL)
        code = [ln.split("--", 1)[0].strip() for ln in sql.splitlines()]
        if "".join(code) and not [c for c in code if c][-1].endswith(";"):
            raise ValueError("migration ends with an incomplete SQL statement")
        conn = await self._writer()
        async with conn.transaction():
            # One Lotse at a time migrates; the others wait and then find the work done.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS lotse_migration (version INTEGER PRIMARY KEY,"
                " name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            if await self._version(conn) >= migration.version:
                return False
            await conn.execute(sql)  # the whole file at once: functions may hold semicolons
            await conn.execute(
                "INSERT INTO lotse_migration (version, name) VALUES ($1, $2)",
                migration.version,
                migration.path.name,
            )
        return True

    async def run_batch(self, batch: list[_Write]) -> None:
        conn = await self._writer()
        async with conn.transaction():
            i = 0
            while i < len(batch):
                item = batch[i]
                if item.group:
                    for sql, params in item.group:
                        await conn.execute(postgresql_sql(sql), *params)
                elif item.many:
                    rows = list(item.params)
                    if rows:
                        await conn.executemany(postgresql_sql(item.sql), rows)
                elif item.fetch:
                    item.row = await conn.fetchrow(postgresql_sql(item.sql), *item.params)
                elif item.params:
                    # A run of the same statement (a burst of events, handled marks) goes to the
                    # server in one pipelined round instead of one round trip each.
                    j = i + 1
                    while j < len(batch) and _plain(batch[j]) and batch[j].sql == item.sql:
                        j += 1
                    if j - i > 1:
                        await conn.executemany(postgresql_sql(item.sql), [w.params for w in batch[i:j]])
                        i = j
                        continue
                    await conn.execute(postgresql_sql(item.sql), *item.params)
                else:
                    await conn.execute(postgresql_sql(item.sql))
                i += 1

    async def close(self) -> None:
        try:
            if self.pool is not self.writer:
                await self.pool.close()
        finally:
            await self.writer.close()


class Database:
    def __init__(self, backend: aiosqlite.Connection | _Backend, batch_size: int = 500):
        self._backend: _Backend = _Sqlite(backend) if isinstance(backend, aiosqlite.Connection) else backend
        self._queue: asyncio.Queue[_Write | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._batch_size = batch_size
        self._closing = asyncio.Event()
        # Why the store takes no writes now (FULL, READ_ONLY, …); None while writes commit.
        self.trouble: str | None = None
        # Told (from the writer task; keep them quick) when writes stop and when they commit again.
        self.on_trouble: Callable[[str], None] | None = None
        self.on_recovered: Callable[[str, float], None] | None = None
        # Where this store is (set by open and connect), for a reader in another process.
        self.location: StoreLocation | None = None

    @classmethod
    async def open(cls, path: Path) -> Database:
        """The SQLite store in the file ``path`` (created if missing, 0600 in a 0700 folder)."""
        private_dir(path.parent)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "foreign_keys=ON",
                "busy_timeout=5000",
            ):
                await conn.execute(f"PRAGMA {pragma}")
        except BaseException:
            await conn.close()  # its thread would keep the process alive (a full disk, say)
            raise
        with contextlib.suppress(OSError):
            path.chmod(0o600)  # noqa: ASYNC240 - once, at start-up
        db = cls(conn)
        db.location = StoreLocation(path=path)
        return db

    @classmethod
    async def connect(cls, url: str, *, password: str | None = None, pool_size: int = 4) -> Database:
        """The PostgreSQL store at ``url`` (postgresql://user@host:port/database?sslmode=…).
        ``password``: when not in the URL (else asyncpg also reads PGPASSWORD and ~/.pgpass)."""
        with _unavailable_as(url):
            db = cls(await _Postgres.connect(url, password, pool_size))
        db.location = StoreLocation(url=url, password=password)
        return db

    @classmethod
    async def open_reader(cls, location: StoreLocation) -> Database:
        """The store at ``location``, read-only, on one connection (no writer task): for a
        process that only reads while the bot keeps writing (SQLite's WAL lets both go on)."""
        if location.url is not None:
            with _unavailable_as(location.url):
                return cls(await _Postgres.connect_reader(location.url, location.password))
        if location.path is None:
            raise StoreUnavailable("no store to read")
        # mode=ro: this connection cannot write, whatever runs on it; a missing file is an
        # error instead of a new empty store.
        conn = await aiosqlite.connect(f"{location.path.resolve().as_uri()}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            await conn.execute("PRAGMA busy_timeout=5000")
            await conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")  # fails here if unreadable
        except BaseException:
            await conn.close()
            raise
        return cls(conn)

    @classmethod
    async def open_store(cls, settings: Settings) -> Database:
        """The store the configuration names: ``[store] url``, else ``lotse.db`` in data_dir."""
        if settings.store.url:
            return await cls.connect(settings.store.url, password=settings.store.password_value())
        return await cls.open(settings.data_dir / DB_FILE)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._backend.dialect

    @property
    def conn(self) -> aiosqlite.Connection:
        """The SQLite connection (tests and benchmarks reach below the API with it)."""
        if not isinstance(self._backend, _Sqlite):
            raise AttributeError("conn: only the SQLite store has one connection")
        return self._backend.conn

    async def schema_version(self) -> int:
        return await self._backend.schema_version()

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
            if await self._backend.apply(mig):
                log.info("applied migration %s", mig.path.name)
                applied.append(mig.version)
        return applied

    # -- reads -----------------------------------------------------------------------------

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await self._backend.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._backend.fetchall(sql, params)

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    # -- writes ----------------------------------------------------------------------------

    def start_writer(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop(), name="store-writer")

    def write(self, sql: str, params: Params = ()) -> asyncio.Future[None]:
        item = _Write(sql, params, many=False)
        self._queue.put_nowait(item)
        return item.done

    def write_returning(self, sql: str, params: Params = ()) -> asyncio.Future[Row | None]:
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
            await self._backend.run_batch(batch)
        except Exception as exc:
            reason = unwritable_reason(exc)
            if reason is not None and not self._closing.is_set():
                await self._hold(batch, reason, exc)
                return
            for item in batch:
                item.row = None
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

    async def _hold(self, batch: list[_Write], reason: str, exc: Exception) -> None:
        """Keep a batch the store did not take and try it again until it commits."""
        since = time.monotonic()
        self.trouble = reason
        log.error("the store takes no writes (%s: %s); %d writes held, trying again", reason, exc, len(batch))
        self._tell(self.on_trouble, reason)
        delay = HOLD_FIRST_RETRY_S
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)
            for item in batch:
                item.row = None
            try:
                await self._backend.run_batch(batch)
                break
            except Exception as again:
                new_reason = unwritable_reason(again)
                if new_reason is None or self._closing.is_set():
                    self.trouble = None
                    if new_reason is not None:  # stopping: what is not committed is replayed
                        log.error("the bot stops while the store takes no writes: %d writes lost", len(batch))
                        again = StoreUnwritable(new_reason)
                    for item in batch:
                        if not item.done.done():
                            item.done.set_exception(again)
                    return
                if new_reason != self.trouble:
                    log.error("the store takes no writes (%s: %s)", new_reason, again)
                    self.trouble = new_reason
                delay = min(delay * 2, HOLD_MAX_RETRY_S)
        held_s = time.monotonic() - since
        self.trouble = None
        log.warning("the store takes writes again after %.0f s", held_s)
        self._tell(self.on_recovered, reason, held_s)
        for item in batch:
            if not item.done.done():
                item.done.set_result(item.row)

    @staticmethod
    def _tell(listener: Callable[..., None] | None, *args: Any) -> None:
        if listener is None:
            return
        try:
            listener(*args)
        except Exception:  # the writer must go on whatever a listener does
            log.exception("store listener failed")

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        await self.write("SELECT 1")

    async def close(self) -> None:
        # A writer holding writes for a store that takes none gives up now instead of forever.
        self._closing.set()
        if self._writer is not None:
            self._queue.put_nowait(None)
            await self._writer
            self._writer = None
        await self._backend.close()


def integrity_errors() -> tuple[type[Exception], ...]:
    """What a violated constraint raises (a duplicate key, a CHECK), in either backend."""
    errors: list[type[Exception]] = [sqlite3.IntegrityError]
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        pass
    else:
        errors.append(asyncpg.IntegrityConstraintViolationError)
    return tuple(errors)


def split_sql(script: str) -> list[str]:
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
