"""bot/store/retention.py: the sweep's reads of the expired set (both store backends)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.ids import EventID, RoomID
from bot.store.consent import ConsentStore, EventMeta
from bot.store.db import Database
from bot.store.retention import RetentionStore, count_expired_sql
from tests.support import open_test_store

R = RoomID("!r:x")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_test_store(tmp_path / "t.db", migrated=True)
    await database.migrate()
    database.start_writer()
    try:
        yield database
    finally:
        await database.close()


async def test_open_expired_pages_by_position_each_event_once_oldest_first(db: Database) -> None:
    """Pages follow (ts, event ID), not what is marked: a page can be read while the previous
    one's redactions are in flight, and events with the same time are neither lost nor doubled
    at a page border."""
    rows = [
        EventMeta(EventID(f"$e{i:03d}"), R, "s", 1_000 + i // 7, "m.room.message", ()) for i in range(100)
    ]
    rows.append(EventMeta(EventID("$other"), RoomID("!o:x"), "s", 1_000, "m.room.message", ()))
    rows.append(EventMeta(EventID("$young"), R, "s", 5_000, "m.room.message", ()))
    rows.append(EventMeta(EventID("$gone"), R, "s", 1_000, "m.room.message", ()))
    consent, retention = ConsentStore(db), RetentionStore(db)
    await consent.record_events(rows)
    await consent.mark_redacted([EventID("$gone")])

    seen: list[tuple[int, EventID]] = []
    after: tuple[int, str] | None = None
    while page := await retention.open_expired(R, 2_000, 6, after):
        seen += page
        after = page[-1]
    assert seen == sorted((r.ts, r.event_id) for r in rows[:100])


@pytest.mark.store_backends("sqlite")
async def test_open_expired_reads_the_index_alone(db: Database) -> None:
    """On millions of rows the table lookups were most of the time (1M rows, 100k expired:
    1.1 s); the covering index of schema 11 answers from the index."""
    plan = await db.fetchall(
        "EXPLAIN QUERY PLAN SELECT ts, event_id FROM event_meta WHERE room_id = ? AND redacted_at IS NULL"
        " AND ts < ? AND ts >= ? AND (ts > ? OR event_id > ?) ORDER BY ts, event_id LIMIT ?",
        (R, 2, 1, 1, "$x", 10),
    )
    detail = " ".join(str(r[3]) for r in plan)
    assert "event_meta_open_ids" in detail and "TEMP B-TREE" not in detail, detail


async def test_count_expired_counts_each_room_by_its_own_cutoffs_in_chunks(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plan()'s counts, one query for many rooms: each room by its own message and media
    cutoffs; redacted messages and deleted media no longer count; a room with nothing stored
    counts (0, 0); rooms beyond one query's chunk are counted by the next."""
    monkeypatch.setattr("bot.store.retention.COUNT_CHUNK", 2)
    a, b, c, empty = RoomID("!a:x"), RoomID("!b:x"), RoomID("!c:x"), RoomID("!empty:x")
    media = ("mxc://x/m",)
    rows = [
        *(EventMeta(EventID(f"$a{i}"), a, "s", 100 * i, "m.room.message", media) for i in range(10)),
        *(EventMeta(EventID(f"$b{i}"), b, "s", 100 * i, "m.room.message", ()) for i in range(10)),
        *(EventMeta(EventID(f"$c{i}"), c, "s", 100 * i, "m.room.message", media) for i in range(3)),
    ]
    consent, retention = ConsentStore(db), RetentionStore(db)
    await consent.record_events(rows)
    await consent.mark_redacted([EventID("$a0"), EventID("$b0")])
    await retention.mark_media_deleted([EventID("$a1")])

    counts = await retention.count_expired([(a, 500, 300), (b, 1_000, 1_000), (c, 0, 10_000), (empty, 9, 9)])

    # a: ts 0–400 before 500, $a0 redacted → 4; media before 300: $a0–$a2, $a1's deleted → 2
    # ($a0's redaction does not delete its media: that is the media pass's own mark).
    assert counts == {a: (4, 2), b: (9, 0), c: (0, 3), empty: (0, 0)}
    assert await retention.count_expired([]) == {}


async def test_holds_lists_the_rooms_held_at_a_time(db: Database) -> None:
    consent = ConsentStore(db)
    await consent.set_hold(RoomID("!held:x"), 2_000, "admin")
    await consent.set_hold(RoomID("!over:x"), 1_000, "admin")
    assert await consent.holds(1_500) == {RoomID("!held:x"): 2_000}
    assert await consent.holds(2_000) == {}


@pytest.mark.store_backends("sqlite")
async def test_count_expired_reads_the_covering_index_also_with_statistics(db: Database) -> None:
    """With the statistics of a store of 1M rows (as ANALYZE leaves them), SQLite's planner
    took the (room_id, ts) index for the open messages and read each row for its mark."""
    await db.conn.execute("ANALYZE")  # creates sqlite_stat1
    await db.conn.execute("DELETE FROM sqlite_stat1")
    await db.conn.executemany(
        "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('event_meta', ?, ?)",
        [
            ("event_meta_media_open", "20000 10000 1"),
            ("event_meta_open_ids", "1000000 10000 1 1"),
            ("event_meta_room_ts", "1000000 10000 1"),
            ("event_meta_sender", "1000000 2000 2000"),
        ],
    )
    await db.conn.execute("ANALYZE sqlite_schema")  # loads the statistics above
    plan = await db.fetchall("EXPLAIN QUERY PLAN " + count_expired_sql(2, db.dialect), (R, 1, 1, R, 2, 2))
    detail = " ".join(str(r[3]) for r in plan)
    assert "event_meta_open_ids" in detail and "event_meta_room_ts" not in detail, detail
