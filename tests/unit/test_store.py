"""bot/store: migrations, the batching writer and the StateStore queries."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.ids import EventID, RoomID
from bot.store.db import Database, SchemaTooNew, _Write, find_migrations, migrations_dir
from bot.store.state import StateStore


def write_migrations(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql, encoding="utf-8")
    return directory


async def tables(db: Database) -> set[str]:
    rows = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {r["name"] for r in rows}


@pytest.fixture
async def raw_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = await Database.open(tmp_path / "data" / "t.db")
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "t.db")
    await database.migrate()
    database.start_writer()
    try:
        yield database
    finally:
        await database.close()


# --- migrations ----------------------------------------------------------------------------


async def test_real_migrations_apply(raw_db: Database) -> None:
    latest = find_migrations(migrations_dir())[-1].version
    assert await raw_db.schema_version() == 0
    applied = await raw_db.migrate()
    assert applied == list(range(1, latest + 1))
    assert await raw_db.schema_version() == latest
    assert {"kv", "handled_event", "user_pref", "room"} <= await tables(raw_db)
    assert await raw_db.migrate() == []
    assert await raw_db.schema_version() == latest


async def test_migrations_apply_in_order(raw_db: Database, tmp_path: Path) -> None:
    mdir = write_migrations(
        tmp_path / "m",
        {
            # 0002 and 0003 fail unless 0001 (and 0002) ran first.
            "0003_c.sql": "INSERT INTO a (x) VALUES (3);\nCREATE TABLE c (y TEXT);\n",
            "0001_a.sql": "-- first\nCREATE TABLE a (x INTEGER);\n",
            "0002_b.sql": "ALTER TABLE a ADD COLUMN note TEXT;\nINSERT INTO a (x) VALUES (2);\n",
        },
    )
    assert await raw_db.migrate(mdir) == [1, 2, 3]
    assert await raw_db.schema_version() == 3
    rows = await raw_db.fetchall("SELECT x, note FROM a ORDER BY rowid")
    assert [tuple(r) for r in rows] == [(2, None), (3, None)]
    assert await raw_db.migrate(mdir) == []
    assert await raw_db.fetchval("SELECT count(*) FROM a") == 2


async def test_only_new_migrations_apply(raw_db: Database, tmp_path: Path) -> None:
    mdir = write_migrations(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a (x INTEGER);\n"})
    assert await raw_db.migrate(mdir) == [1]
    write_migrations(mdir, {"0002_b.sql": "CREATE TABLE b (x INTEGER);\n"})
    assert await raw_db.migrate(mdir) == [2]
    assert await raw_db.schema_version() == 2
    assert {"a", "b"} <= await tables(raw_db)


async def test_version_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    first = await Database.open(path)
    applied = await first.migrate()
    await first.close()
    second = await Database.open(path)
    try:
        assert await second.schema_version() == applied[-1]
        assert await second.migrate() == []
    finally:
        await second.close()


async def test_schema_too_new(raw_db: Database) -> None:
    await raw_db.conn.execute("PRAGMA user_version = 999")
    with pytest.raises(SchemaTooNew, match="schema 999"):
        await raw_db.migrate()
    assert await raw_db.schema_version() == 999
    assert await tables(raw_db) == set()


async def test_bad_migration_rolls_back_completely(raw_db: Database, tmp_path: Path) -> None:
    mdir = write_migrations(
        tmp_path / "m",
        {
            "0001_a.sql": "CREATE TABLE a (x INTEGER);\n",
            "0002_bad.sql": (
                "CREATE TABLE b (x INTEGER);\n"
                "CREATE INDEX b_x ON b (x);\n"
                "INSERT INTO a (x) VALUES (1);\n"
                "INSERT INTO no_such_table VALUES (1);\n"
            ),
        },
    )
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        await raw_db.migrate(mdir)
    assert await raw_db.schema_version() == 1
    assert await tables(raw_db) == {"a"}
    assert await raw_db.fetchval("SELECT count(*) FROM a") == 0
    assert await raw_db.fetchval("SELECT count(*) FROM sqlite_master WHERE name = 'b_x'") == 0
    # The connection is usable again, and a fixed migration applies.
    write_migrations(mdir, {"0002_bad.sql": "CREATE TABLE b (x INTEGER);\n"})
    assert await raw_db.migrate(mdir) == [2]


async def test_bad_first_migration_leaves_fresh_db_untouched(raw_db: Database, tmp_path: Path) -> None:
    mdir = write_migrations(
        tmp_path / "m", {"0001_bad.sql": "CREATE TABLE a (x INTEGER);\nCREATE TABLE a (y);\n"}
    )
    with pytest.raises(sqlite3.OperationalError):
        await raw_db.migrate(mdir)
    assert await raw_db.schema_version() == 0
    assert await tables(raw_db) == set()


async def test_incomplete_statement_is_refused(raw_db: Database, tmp_path: Path) -> None:
    mdir = write_migrations(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a (x INTEGER)\n"})
    with pytest.raises(ValueError, match="incomplete"):
        await raw_db.migrate(mdir)
    assert await raw_db.schema_version() == 0


async def test_migration_with_comments_and_quoted_semicolons(raw_db: Database, tmp_path: Path) -> None:
    mdir = write_migrations(
        tmp_path / "m",
        {
            "0001_a.sql": (
                "-- header comment\n"
                "CREATE TABLE a (\n"
                "    x TEXT  -- a comment; with a semicolon\n"
                ");\n"
                "\n"
                "-- the seed row\n"
                "INSERT INTO a (x) VALUES ('one; two');\n"
            )
        },
    )
    assert await raw_db.migrate(mdir) == [1]
    assert await raw_db.fetchval("SELECT x FROM a") == "one; two"


async def test_migration_ending_in_a_comment(raw_db: Database, tmp_path: Path) -> None:
    mdir = write_migrations(
        tmp_path / "m", {"0001_a.sql": "CREATE TABLE a (x INTEGER);\n\n-- end of schema 1\n"}
    )
    assert await raw_db.migrate(mdir) == [1]


def test_find_migrations_sorted(tmp_path: Path) -> None:
    mdir = write_migrations(
        tmp_path / "m",
        {"0002_b.sql": "", "0001_a.sql": "", "0010_j.sql": "", "README.md": "not sql"},
    )
    for i in range(3, 10):
        (mdir / f"{i:04d}_m{i}.sql").write_text("", encoding="utf-8")
    found = find_migrations(mdir)
    assert [m.version for m in found] == list(range(1, 11))
    assert found[0].path.name == "0001_a.sql"
    assert found[-1].path.name == "0010_j.sql"


def test_find_migrations_empty(tmp_path: Path) -> None:
    assert find_migrations(write_migrations(tmp_path / "m", {})) == []


@pytest.mark.parametrize(
    "names",
    [
        ["0001_a.sql", "0003_c.sql"],  # gap
        ["0002_b.sql"],  # does not start at 1
        ["0001_a.sql", "0001_b.sql"],  # duplicate version
        ["0000_zero.sql", "0001_a.sql"],
    ],
)
def test_find_migrations_rejects_gaps(tmp_path: Path, names: list[str]) -> None:
    mdir = write_migrations(tmp_path / "m", dict.fromkeys(names, ""))
    with pytest.raises(ValueError, match="without gaps"):
        find_migrations(mdir)


@pytest.mark.parametrize(
    "name", ["1_a.sql", "001_a.sql", "0001-a.sql", "0001_A.sql", "0001.sql", "00001_a.sql", "x.sql"]
)
def test_find_migrations_rejects_bad_names(tmp_path: Path, name: str) -> None:
    mdir = write_migrations(tmp_path / "m", {name: ""})
    with pytest.raises(ValueError, match=r"NNNN_name\.sql"):
        find_migrations(mdir)


def test_shipped_migrations_are_well_formed() -> None:
    found = find_migrations(migrations_dir())
    assert found
    assert found[0].path.name == "0001_initial.sql"


# --- connection ----------------------------------------------------------------------------


async def test_wal_and_pragmas(raw_db: Database) -> None:
    assert await raw_db.fetchval("PRAGMA journal_mode") == "wal"
    assert await raw_db.fetchval("PRAGMA foreign_keys") == 1
    assert await raw_db.fetchval("PRAGMA busy_timeout") == 5000


async def test_db_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "t.db"
    db = await Database.open(path)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        await db.close()


# --- the batching writer -------------------------------------------------------------------


async def test_many_writes_commit(db: Database) -> None:
    futures = [db.write("INSERT INTO kv (key, value) VALUES (?, ?)", (f"k{i}", str(i))) for i in range(500)]
    await asyncio.gather(*futures)
    assert await db.fetchval("SELECT count(*) FROM kv") == 500
    assert await db.fetchval("SELECT value FROM kv WHERE key = 'k499'") == "499"


async def test_writes_are_batched(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    original = db._commit

    async def spy(batch: list[_Write]) -> None:
        sizes.append(len(batch))
        await original(batch)

    monkeypatch.setattr(db, "_commit", spy)
    # All 200 writes are queued before the writer runs: what has piled up is taken in batches
    # cut by size only, independent of the machine's speed.
    monkeypatch.setattr(db, "_batch_size", 100)
    ins = "INSERT INTO kv (key, value) VALUES (?, ?)"
    await asyncio.gather(*[db.write(ins, (f"k{i}", "v")) for i in range(200)])
    assert sizes == [100, 100]  # batch_size
    assert await db.fetchval("SELECT count(*) FROM kv") == 200


async def test_write_many(db: Database) -> None:
    await db.write_many("INSERT INTO kv (key, value) VALUES (?, ?)", ((f"m{i}", "x") for i in range(50)))
    assert await db.fetchval("SELECT count(*) FROM kv") == 50


async def test_flush_waits_for_queued_writes(db: Database) -> None:
    futures = [db.write("INSERT INTO kv (key, value) VALUES (?, ?)", (f"f{i}", "v")) for i in range(30)]
    await db.flush()
    assert all(f.done() for f in futures)
    assert await db.fetchval("SELECT count(*) FROM kv") == 30


async def test_failing_statement_fails_only_its_own_future(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    original = db._commit

    async def spy(batch: list[_Write]) -> None:
        sizes.append(len(batch))
        await original(batch)

    monkeypatch.setattr(db, "_commit", spy)
    ins = "INSERT INTO kv (key, value) VALUES (?, ?)"
    futures = [
        db.write(ins, ("a", "1")),
        db.write(ins, ("b", "2")),
        db.write(ins, ("a", "duplicate")),  # primary key violation
        db.write("INSERT INTO room (room_id, kind, joined_at) VALUES ('!r:x', 'bogus', 0)"),
        db.write(ins, ("c", "3")),
    ]
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert results[0] is None
    assert results[1] is None
    assert isinstance(results[2], sqlite3.IntegrityError)
    assert isinstance(results[3], sqlite3.IntegrityError)
    assert results[4] is None
    assert sizes[0] == 5  # they really were one batch
    rows = await db.fetchall("SELECT key, value FROM kv ORDER BY key")
    assert [tuple(r) for r in rows] == [("a", "1"), ("b", "2"), ("c", "3")]
    assert await db.fetchval("SELECT count(*) FROM room") == 0
    # The writer keeps working afterwards.
    await db.write(ins, ("d", "4"))
    assert await db.fetchval("SELECT value FROM kv WHERE key = 'd'") == "4"


async def test_close_commits_pending_writes(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    db = await Database.open(path)
    await db.migrate()
    db.start_writer()
    futures = [db.write("INSERT INTO kv (key, value) VALUES (?, ?)", (f"c{i}", "v")) for i in range(20)]
    await db.close()
    assert all(f.done() and f.exception() is None for f in futures)
    again = await Database.open(path)
    try:
        assert await again.fetchval("SELECT count(*) FROM kv") == 20
    finally:
        await again.close()


# --- StateStore ----------------------------------------------------------------------------


@pytest.fixture
def state(db: Database) -> StateStore:
    return StateStore(db)


async def test_kv_round_trip(state: StateStore) -> None:
    assert await state.get("sync_token") is None
    await state.put("sync_token", "s1")
    assert await state.get("sync_token") == "s1"
    await state.put("sync_token", "s2")
    assert await state.get("sync_token") == "s2"
    assert await state.db.fetchval("SELECT count(*) FROM kv") == 1
    await state.delete("sync_token")
    assert await state.get("sync_token") is None
    await state.delete("never-there")


async def test_handled_events(state: StateStore) -> None:
    e1, e2 = EventID("$one"), EventID("$two")
    assert not await state.is_handled(e1)
    await state.mark_handled(e1)
    await state.mark_handled(e1)  # idempotent
    assert await state.is_handled(e1)
    assert not await state.is_handled(e2)
    await state.forget_handled_before(0)
    assert await state.is_handled(e1)
    await state.forget_handled_before(2**62)
    assert not await state.is_handled(e1)


async def test_language(state: StateStore) -> None:
    assert await state.language("subj") is None
    await state.set_language("subj", "en")
    assert await state.language("subj") == "en"
    await state.set_language("subj", "de")
    assert await state.language("subj") == "de"
    assert await state.language("other") is None


async def test_room_kind(state: StateStore) -> None:
    room = RoomID("!r:example.org")
    assert await state.room_kind(room) is None
    await state.set_room_kind(room, "direct")
    assert await state.room_kind(room) == "direct"
    await state.set_room_kind(room, "team")
    assert await state.room_kind(room) == "team"
    await state.forget_room(room)
    assert await state.room_kind(room) is None


async def test_room_kind_is_checked(state: StateStore) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await state.set_room_kind(RoomID("!r:example.org"), "lobby")
    assert await state.room_kind(RoomID("!r:example.org")) is None


async def test_the_same_decision_from_the_same_event_is_recorded_once(db: Database) -> None:
    """After a crash the answer event is handled again: it must not become a second consent."""
    from bot.store.consent import ConsentStore

    store = ConsentStore(db)
    entry = {
        "subject": "s1",
        "scope": "client",
        "purpose": "counselling",
        "notice_version": "v1",
        "language": "de",
        "decision": "given",
        "method": "text",
    }
    for _ in range(3):
        await store.append(**entry, event_id="$answer")
    await store.append(**{**entry, "decision": "withdrawn"}, event_id="$later")
    await store.append(**entry)  # no event (a command without one): always recorded
    await store.append(**entry)
    decisions = [e.decision for e in await store.history("s1")]
    assert decisions.count("given") == 3 and decisions.count("withdrawn") == 1
