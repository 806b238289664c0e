"""A store that takes no writes (issue #14.3): full, read-only, or away. The writer holds what it
was given and commits it once the store takes writes again: nothing lost, nothing twice, the bot
told both times. Real stores: SQLite with its page limit or query_only, PostgreSQL switched to
read-only transactions for every session (as on a standby)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import db as dbmod
from bot.store.db import FULL, READ_ONLY, Database, StoreUnwritable, unwritable_reason
from tests.support import STORE, open_test_store

INSERT = "INSERT INTO kv (key, value) VALUES (?, ?)"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbmod, "HOLD_FIRST_RETRY_S", 0.05)
    monkeypatch.setattr(dbmod, "HOLD_MAX_RETRY_S", 0.2)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_test_store(tmp_path / "lotse.db", migrated=True)
    await db.migrate()
    db.start_writer()
    yield db
    await db.close()


class Listener:
    def __init__(self, db: Database) -> None:
        self.trouble: list[str] = []
        self.recovered: list[str] = []
        db.on_trouble = self.trouble.append
        db.on_recovered = lambda reason, _s: self.recovered.append(reason)


async def postgres_read_only(on: bool) -> None:
    """Every session of the test server, existing ones too (a reload), reads only, or not."""
    import asyncpg

    conn = await asyncpg.connect(STORE.server.url())
    try:
        if on:
            await conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        else:
            await conn.execute("SET default_transaction_read_only = off")
            await conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()
    await asyncio.sleep(0.3)  # the backends take the reload when they next wait for a query


async def make_unwritable(db: Database, how: str) -> None:
    if db.dialect == "postgresql":
        await postgres_read_only(True)
    elif how == FULL:
        pages = await db.fetchval("PRAGMA page_count")
        await db.conn.execute(f"PRAGMA max_page_count = {pages}")
    else:
        await db.conn.execute("PRAGMA query_only = 1")


async def make_writable(db: Database) -> None:
    if db.dialect == "postgresql":
        await postgres_read_only(False)
    else:
        await db.conn.execute("PRAGMA query_only = 0")
        await db.conn.execute("PRAGMA max_page_count = 1073741823")


async def rows(db: Database) -> list[tuple[str, str]]:
    return [
        (r[0], r[1]) for r in await db.fetchall("SELECT key, value FROM kv WHERE key LIKE 'k%' ORDER BY key")
    ]


@pytest.mark.parametrize("how", [FULL, READ_ONLY])
async def test_writes_are_held_until_the_store_takes_them_again(store: Database, how: str) -> None:
    told = Listener(store)
    await store.write(INSERT, ("k0", "before"))
    try:
        await make_unwritable(store, how)
        # Enough rows to need new pages (a full SQLite store refuses only growth).
        pending = [store.write(INSERT, (f"k{i:04d}", "x" * 500)) for i in range(1, 400)]
        await asyncio.sleep(1.0)
        assert not any(f.done() for f in pending), "a write was given up while the store was unwritable"
        expected = READ_ONLY if store.dialect == "postgresql" else how
        assert store.trouble == expected
        assert told.trouble == [expected], "the bot must be told once, not on every retry"
        assert await rows(store) == [("k0", "before")], "reads go on meanwhile"
    finally:
        await make_writable(store)
    await asyncio.wait_for(asyncio.gather(*pending), 10)
    assert store.trouble is None
    assert told.recovered == [told.trouble[0]]
    got = await rows(store)
    assert len(got) == 400 and len({k for k, _ in got}) == 400, "every held write committed once"


async def test_a_statement_error_is_not_held(store: Database) -> None:
    told = Listener(store)
    await store.write(INSERT, ("k1", "a"))
    with pytest.raises(Exception) as raised:
        await asyncio.wait_for(store.write(INSERT, ("k1", "again")), 5)  # duplicate key
    assert unwritable_reason(raised.value) is None
    assert told.trouble == [] and store.trouble is None


async def test_stopping_while_held_fails_the_held_writes_instead_of_hanging(store: Database) -> None:
    await make_unwritable(store, READ_ONLY)
    try:
        held = store.write(INSERT, ("k1", "a"))
        await asyncio.sleep(0.3)
        assert store.trouble is not None
        await asyncio.wait_for(store.close(), 10)
        with pytest.raises(StoreUnwritable):
            await held
    finally:
        if store.dialect == "postgresql":
            await make_writable(store)


@pytest.mark.store_backends("sqlite")
def test_reasons() -> None:
    def sqlite_error(code: int) -> sqlite3.Error:
        exc = sqlite3.OperationalError("x")
        exc.sqlite_errorcode = code  # type: ignore[attr-defined]
        return exc

    assert unwritable_reason(sqlite_error(sqlite3.SQLITE_FULL)) == FULL
    assert unwritable_reason(sqlite_error(sqlite3.SQLITE_READONLY)) == READ_ONLY
    assert unwritable_reason(sqlite_error(sqlite3.SQLITE_IOERR | (3 << 8))) == dbmod.IO_ERROR  # extended code
    assert unwritable_reason(sqlite_error(sqlite3.SQLITE_CONSTRAINT)) is None
    assert unwritable_reason(sqlite3.IntegrityError("UNIQUE")) is None
    assert unwritable_reason(ConnectionResetError()) == dbmod.AWAY
    assert unwritable_reason(ValueError()) is None
