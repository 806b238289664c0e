"""bot/store: migrations, the batching writer and the StateStore queries, on both backends
(SQLite and PostgreSQL: see tests/conftest.py)."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.ids import EventID, RoomID
from bot.store.consent import ConsentStore
from bot.store.db import (
    Database,
    SchemaTooNew,
    _Write,
    find_migrations,
    integrity_errors,
    migrations_dir,
    postgresql_sql,
    postgresql_types,
)
from bot.store.state import StateStore
from tests.support import open_test_store

sqlite_only = pytest.mark.store_backends("sqlite")


def write_migrations(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql, encoding="utf-8")
    return directory


async def tables(db: Database) -> set[str]:
    if db.dialect == "postgresql":
        rows = await db.fetchall(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()"
            " AND table_name != 'lotse_migration'"
        )
    else:
        rows = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {r["name"] for r in rows}


async def indexes(db: Database, name: str) -> int:
    if db.dialect == "postgresql":
        sql = "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ?"
    else:
        sql = "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?"
    return int(await db.fetchval(sql, (name,)))


async def set_schema_version(db: Database, version: int) -> None:
    """Below the API: pretend a newer Lotse migrated this database."""
    if db.dialect == "postgresql":
        db.start_writer()
        await db.write(
            "CREATE TABLE lotse_migration (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        await db.write("INSERT INTO lotse_migration (version, name) VALUES (?, 'future')", (version,))
    else:
        await db.conn.execute(f"PRAGMA user_version = {version}")


@pytest.fixture
async def raw_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_test_store(tmp_path / "data" / "t.db")
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_test_store(tmp_path / "t.db", migrated=True)
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
    rows = await raw_db.fetchall("SELECT x, note FROM a ORDER BY x")
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
    first = await open_test_store(path)
    applied = await first.migrate()
    await first.close()
    second = await open_test_store(path)
    try:
        assert await second.schema_version() == applied[-1]
        assert await second.migrate() == []
    finally:
        await second.close()


async def test_schema_too_new(raw_db: Database) -> None:
    await set_schema_version(raw_db, 999)
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
    with pytest.raises(Exception, match=r"no.such.table|relation \"no_such_table\" does not exist"):
        await raw_db.migrate(mdir)
    assert await raw_db.schema_version() == 1
    assert await tables(raw_db) == {"a"}
    assert await raw_db.fetchval("SELECT count(*) FROM a") == 0
    assert await indexes(raw_db, "b_x") == 0
    # The connection is usable again, and a fixed migration applies.
    write_migrations(mdir, {"0002_bad.sql": "CREATE TABLE b (x INTEGER);\n"})
    assert await raw_db.migrate(mdir) == [2]


async def test_bad_first_migration_leaves_fresh_db_untouched(raw_db: Database, tmp_path: Path) -> None:
    mdir = write_migrations(
        tmp_path / "m", {"0001_bad.sql": "CREATE TABLE a (x INTEGER);\nCREATE TABLE a (y TEXT);\n"}
    )
    with pytest.raises(Exception, match="already exists"):
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


@sqlite_only
async def test_wal_and_pragmas(raw_db: Database) -> None:
    assert await raw_db.fetchval("PRAGMA journal_mode") == "wal"
    assert await raw_db.fetchval("PRAGMA foreign_keys") == 1
    assert await raw_db.fetchval("PRAGMA busy_timeout") == 5000


@sqlite_only
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
    assert isinstance(results[2], integrity_errors())
    assert isinstance(results[3], integrity_errors())
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
    db = await open_test_store(path)
    await db.migrate()
    db.start_writer()
    futures = [db.write("INSERT INTO kv (key, value) VALUES (?, ?)", (f"c{i}", "v")) for i in range(20)]
    await db.close()
    assert all(f.done() and f.exception() is None for f in futures)
    again = await open_test_store(path)
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
    with pytest.raises(integrity_errors()):
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


# --- two dialects, one API -----------------------------------------------------------------


@sqlite_only
def test_placeholders_as_asyncpg_numbers_them() -> None:
    assert postgresql_sql("SELECT ? , ?") == "SELECT $1 , $2"
    # ?N as SQLite numbers them: a bare ? is one more than the largest number so far.
    assert postgresql_sql("WHERE a = ?2 AND b = ?1 AND c = ?") == "WHERE a = $2 AND b = $1 AND c = $3"
    # Question marks in strings, quoted names and comments are not placeholders.
    sql = "SELECT '?', 'it''s ?', \"col?\" -- why?\nFROM t WHERE x = ?"
    assert postgresql_sql(sql) == "SELECT '?', 'it''s ?', \"col?\" -- why?\nFROM t WHERE x = $1"


@sqlite_only
def test_sqlite_types_spelled_for_postgresql() -> None:
    sql = (
        "CREATE TABLE t (\n    seq INTEGER PRIMARY KEY AUTOINCREMENT,\n    n INTEGER NOT NULL,\n"
        "    x REAL,\n    b BLOB\n) STRICT;\nCREATE TABLE u (id INTEGER PRIMARY KEY, v TEXT) STRICT ;\n"
    )
    assert postgresql_types(sql) == (
        "CREATE TABLE t (\n    seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n"
        "    n BIGINT NOT NULL,\n    x DOUBLE PRECISION,\n    b BYTEA\n);\n"
        "CREATE TABLE u (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v TEXT);\n"
    )


@sqlite_only
def test_a_variant_needs_its_migration(tmp_path: Path) -> None:
    mdir = write_migrations(tmp_path / "m", {"0001_a.sql": ""})
    write_migrations(mdir / "postgresql", {"0002_b.sql": ""})
    with pytest.raises(ValueError, match=r"postgresql/0002_b\.sql has no migration"):
        find_migrations(mdir)


async def test_the_variant_runs_on_postgresql_only(raw_db: Database, tmp_path: Path) -> None:
    mdir = write_migrations(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a (x INTEGER) STRICT;\n"})
    write_migrations(
        mdir / "postgresql",
        {"0001_a.sql": "CREATE TABLE a (x BIGINT);\nCREATE TABLE pg_only (y TEXT);\n"},
    )
    assert await raw_db.migrate(mdir) == [1]
    expected = {"a", "pg_only"} if raw_db.dialect == "postgresql" else {"a"}
    assert await tables(raw_db) == expected


async def test_shipped_migrations_give_both_stores_the_same_tables(db: Database, tmp_path: Path) -> None:
    """The PostgreSQL variants keep every table and column of the SQLite files."""
    if db.dialect == "postgresql":
        rows = await db.fetchall(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name != 'lotse_migration'"
        )
        columns = {(r[0], r[1]) for r in rows}
    else:
        columns = set()
        for t in await tables(db):
            columns |= {(t, r[1]) for r in await db.fetchall(f"PRAGMA table_info({t})")}
    sqlite = await Database.open(tmp_path / "reference.db")
    try:
        await sqlite.migrate()
        expected = set()
        for t in await tables(sqlite):
            if t != "sqlite_sequence":
                expected |= {(t, r[1]) for r in await sqlite.fetchall(f"PRAGMA table_info({t})")}
    finally:
        await sqlite.close()
    assert columns - {("sqlite_sequence", "name"), ("sqlite_sequence", "seq")} == expected


async def test_values_come_back_as_python_types(db: Database) -> None:
    await db.write(
        "INSERT INTO stats_period (period, frozen_at, k, epsilon, demo_data) VALUES (?, ?, ?, ?, ?)",
        ("2026-W01", 2**40, 5, 0.5, 0),
    )
    await db.write(
        "INSERT INTO person (subject, sealed_id, created_at) VALUES (?, ?, ?)", ("s", b"\x00\xff", 1)
    )
    row = await db.fetchone("SELECT frozen_at, k, epsilon FROM stats_period")
    assert row is not None and tuple(row) == (2**40, 5, 0.5)
    assert row["frozen_at"] == 2**40 and row[1] == 5
    # SUM, COUNT and numbered placeholders: ints, as SQLite gives them.
    total = await db.fetchval("SELECT SUM(frozen_at) + ?1 - ?1 FROM stats_period", (7,))
    assert total == 2**40 and type(total) is int
    assert await db.fetchval("SELECT COUNT(*) FROM stats_period") == 1
    assert bytes(await db.fetchval("SELECT sealed_id FROM person")) == b"\x00\xff"
    assert await db.fetchval("SELECT instr('abc', 'c')") == 3


async def test_append_only_logs_refuse_updates(db: Database) -> None:
    await db.write(
        "INSERT INTO audit_log (at, actor, action, target, before, after)"
        " VALUES (1, 'a', 'x', NULL, '1', '2')"
    )
    with pytest.raises(integrity_errors(), match="append-only"):
        await db.write("UPDATE audit_log SET actor = 'b'")
    await ConsentStore(db).append(
        subject="s",
        scope="client",
        purpose="p",
        notice_version="1",
        language="de",
        decision="given",
        method="text",
    )
    with pytest.raises(integrity_errors(), match="append-only"):
        await db.write("UPDATE consent_log SET note = 'x'")
    await db.write("DELETE FROM audit_log")  # an erasure may delete


@pytest.mark.store_backends("postgresql")
async def test_two_processes_migrating_at_once(tmp_path: Path) -> None:
    first = await open_test_store(tmp_path / "t.db")
    second = await open_test_store(tmp_path / "t.db")
    try:
        a, b = await asyncio.gather(first.migrate(), second.migrate())
        latest = find_migrations(migrations_dir())[-1].version
        assert sorted(a + b) == list(range(1, latest + 1))
        assert await first.schema_version() == await second.schema_version() == latest
    finally:
        await first.close()
        await second.close()


@pytest.mark.store_backends("postgresql")
async def test_the_writer_connects_again_after_losing_its_connection(db: Database) -> None:
    await db.write("INSERT INTO kv (key, value) VALUES ('a', '1')")
    pid = await db.fetchval(
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'"
        " AND application_name = current_setting('application_name')"
        " AND pid != pg_backend_pid() AND state = 'idle' ORDER BY backend_start LIMIT 1"
    )
    assert pid is not None
    await db.fetchval("SELECT pg_terminate_backend(?)", (pid,))
    await asyncio.sleep(0.1)
    # A write in flight when the connection went fails; the ones after it work again.
    for _ in range(3):
        try:
            await db.write("INSERT INTO kv (key, value) VALUES ('b', '2') ON CONFLICT DO NOTHING")
            break
        except Exception:  # noqa: S112 - the connection that was lost
            continue
    assert await db.fetchval("SELECT value FROM kv WHERE key = 'b'") == "2"


async def test_runs_of_one_statement_keep_their_order_among_others(db: Database) -> None:
    ins = "INSERT INTO kv (key, value) VALUES (?, ?)"
    upd = "UPDATE kv SET value = value || ? WHERE key = ?"
    futures = [
        db.write(ins, ("a", "1")),
        db.write(ins, ("b", "1")),
        db.write(upd, ("2", "a")),
        db.write(upd, ("3", "a")),
        db.write(ins, ("c", "1")),
        db.write(upd, ("4", "a")),
        db.write("DELETE FROM kv WHERE key = 'b'"),
        db.write(ins, ("b", "5")),
    ]
    await asyncio.gather(*futures)
    rows = await db.fetchall("SELECT key, value FROM kv ORDER BY key")
    assert [tuple(r) for r in rows] == [("a", "1234"), ("b", "5"), ("c", "1")]
