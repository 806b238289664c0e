"""``lotse migrate-store``: an existing SQLite store copied into PostgreSQL, verified.

The target must be empty (no tables but Lotse's, and those without rows); it gets the same
schema through the same migrations, then every table's rows in one transaction, parents before
the tables that refer to them. Identity columns continue after the highest number SQLite ever
gave (an erased intake's number is never handed out again). Before COMMIT every table is read
back: its row count and a checksum over its rows must equal the source's, or nothing is kept.

The checksum is order-independent (the sum of each row's SHA-256, modulo 2^256), so it does
not depend on how either database sorts text; a row is hashed as the repr of its values
(integers, floats exactly, text, bytes as hex, NULL) in the order of the column names.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.store.db import Database, SchemaTooNew, StoreUnavailable, redact_url

_CHUNK = 5000
_MOD = 1 << 256


class CopyRefused(Exception):
    """The copy was not made (or not kept); the message says why in plain words."""


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int
    checksum: str
    target_rows: int
    target_checksum: str

    @property
    def ok(self) -> bool:
        return self.rows == self.target_rows and self.checksum == self.target_checksum


def _value(v: Any) -> Any:
    if isinstance(v, bytes | bytearray | memoryview):
        return ("bytes", bytes(v).hex())
    if isinstance(v, bool):
        return int(v)
    return v


class _Sum:
    def __init__(self) -> None:
        self.total = 0
        self.rows = 0

    def add(self, row: Sequence[Any]) -> None:
        digest = hashlib.sha256(repr(tuple(_value(v) for v in row)).encode()).digest()
        self.total = (self.total + int.from_bytes(digest, "big")) % _MOD
        self.rows += 1

    @property
    def hex(self) -> str:
        return f"{self.total:064x}"


def _source_tables(src: sqlite3.Connection) -> list[str]:
    """Lotse's tables, each after the tables its foreign keys point to."""
    names = [
        r[0]
        for r in src.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            " ORDER BY name"
        )
    ]
    parents = {n: {r[2] for r in src.execute(f"PRAGMA foreign_key_list({n})")} - {n} for n in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= set(ordered)]
        if not ready:
            raise CopyRefused(f"circular foreign keys between {sorted(set(names) - set(ordered))}")
        ordered += ready
    return ordered


def _columns(src: sqlite3.Connection, table: str) -> list[str]:
    return sorted(str(r[1]) for r in src.execute(f"PRAGMA table_info({table})"))


def _rows(src: sqlite3.Connection, table: str, columns: list[str]) -> Iterator[list[tuple[Any, ...]]]:
    cur = src.execute(f"SELECT {', '.join(columns)} FROM {table}")
    while chunk := cur.fetchmany(_CHUNK):
        yield [tuple(r) for r in chunk]


async def _target_tables(conn: Any) -> dict[str, list[str]]:
    rows = await conn.fetch(
        "SELECT table_name::text, column_name::text FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY table_name, column_name"
    )
    tables: dict[str, list[str]] = {}
    for r in rows:
        tables.setdefault(r[0], []).append(r[1])
    return tables


async def _connect(url: str, password: str | None) -> Any:
    import asyncpg

    try:
        return await asyncpg.connect(url, password=password)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise CopyRefused(f"cannot connect to {redact_url(url)}: {exc or type(exc).__name__}") from None


async def _refuse_unless_empty(conn: Any, where: str, lotse_tables: set[str]) -> None:
    """Only an empty target: no tables but Lotse's (an earlier attempt's), and those empty."""
    tables = set(await _target_tables(conn)) - {"lotse_migration"}
    foreign = sorted(tables - lotse_tables)
    if foreign:
        raise CopyRefused(
            f"{where} is not empty: it holds tables that are not Lotse's ({', '.join(foreign[:5])}). "
            "Copy into an empty database (or schema) of its own; nothing was changed."
        )
    filled = [t for t in sorted(tables) if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {t})")]
    if filled:
        raise CopyRefused(
            f"{where} is not empty: Lotse's tables there hold rows ({', '.join(filled[:5])}). "
            "A store is copied only into an empty one; nothing was changed."
        )


async def copy_store(
    source: Path,
    url: str,
    *,
    password: str | None = None,
    say: Callable[[str], None] = lambda _line: None,
) -> list[TableCopy]:
    """Copy the SQLite store ``source`` into the empty PostgreSQL database at ``url``."""
    where = redact_url(url)
    if not source.is_file():  # noqa: ASYNC240 - a command line tool, once
        raise CopyRefused(f"{source} does not exist: nothing to copy (check data_dir)")
    # The source at the current schema first, as the bot would do at its next start.
    src_db = await Database.open(source)
    try:
        applied = await src_db.migrate()
    except SchemaTooNew as exc:
        raise CopyRefused(f"{source}: {exc}") from None
    finally:
        await src_db.close()
    if applied:
        say(f"{source}: brought up to schema {applied[-1]} first (migrations {applied})")

    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)  # noqa: ASYNC240
    try:
        src.execute("BEGIN")
        tables = _source_tables(src)  # the first read: from here on one snapshot of every table
        conn = await _connect(url, password)
        try:
            await _refuse_unless_empty(conn, where, set(tables))
        finally:
            await conn.close()
        try:
            target = await Database.connect(url, password=password, pool_size=1)
        except StoreUnavailable as exc:
            raise CopyRefused(str(exc)) from None
        try:
            try:
                applied = await target.migrate()
            except SchemaTooNew as exc:
                raise CopyRefused(f"{where}: {exc}") from None
            version = await target.schema_version()
        finally:
            await target.close()
        say(f"{where}: schema {version} created" if applied else f"{where}: schema {version} was there")
        conn = await _connect(url, password)
        try:
            return await _copy(src, conn, tables)
        finally:
            await conn.close()
    finally:
        src.close()


async def _copy(src: sqlite3.Connection, conn: Any, tables: list[str]) -> list[TableCopy]:
    present = await _target_tables(conn)
    has_sequence = src.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone()
    numbering = dict(src.execute("SELECT name, seq FROM sqlite_sequence").fetchall()) if has_sequence else {}
    results: list[TableCopy] = []
    async with conn.transaction():
        for table in tables:
            columns = _columns(src, table)
            if sorted(present.get(table, [])) != columns:
                raise CopyRefused(
                    f"table {table} differs between the stores ({columns} against "
                    f"{present.get(table, [])}); nothing was kept"
                )
            summed = _Sum()
            for chunk in _rows(src, table, columns):
                for row in chunk:
                    summed.add(row)
                await conn.copy_records_to_table(table, records=chunk, columns=columns)
            readback = _Sum()
            select = f"SELECT {', '.join(columns)} FROM {table}"
            async for row in conn.cursor(select, prefetch=_CHUNK):
                readback.add(tuple(row))
            results.append(TableCopy(table, summed.rows, summed.hex, readback.rows, readback.hex))
        await _continue_numbering(conn, numbering)
        bad = [r for r in results if not r.ok]
        if bad:
            raise CopyRefused(
                "the copy differs from the source in "
                + ", ".join(f"{r.table} ({r.rows} rows, {r.target_rows} copied)" for r in bad)
                + "; nothing was kept"
            )
    return results


async def _continue_numbering(conn: Any, sqlite_sequence: dict[str, int]) -> None:
    """Identity columns go on after the highest number used (in SQLite's own bookkeeping too)."""
    for table, column in await conn.fetch(
        "SELECT table_name::text, column_name::text FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ):
        highest = await conn.fetchval(f"SELECT MAX({column}) FROM {table}")
        last = max(int(highest or 0), int(sqlite_sequence.get(table, 0)))
        if last > 0:
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence(format('%I.%I', current_schema(), $1::text), $2), $3)",
                table,
                column,
                last,
            )
