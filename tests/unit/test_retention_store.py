"""bot/store/retention.py: the sweep's reads of the expired set (both store backends)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.ids import EventID, RoomID
from bot.store.consent import ConsentStore, EventMeta
from bot.store.db import Database
from bot.store.retention import RetentionStore
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
