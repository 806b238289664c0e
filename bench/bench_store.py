"""Store benchmarks, run on demand: `.venv/bin/python bench/bench_store.py [rows]`.

Prints ratios measured in one run on this machine (absolute times on shared machines are
noise; the ratios are what to compare between changes):

1. recording event metadata: one awaited write per event vs. queued writes the writer batches;
2. the sweep's expiry query: with the partial indexes on open events vs. a table scan.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.ids import EventID, RoomID
from bot.store.consent import ConsentStore, EventMeta
from bot.store.db import Database
from bot.store.retention import RetentionStore


def meta(i: int, rooms: int = 50) -> EventMeta:
    return EventMeta(
        EventID(f"$e{i}"), RoomID(f"!r{i % rooms}:x"), f"s{i % 500}", 1_000_000 + i, "m.room.message", ()
    )


async def recording(n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "a.db")
        await db.migrate()
        db.start_writer()
        store = ConsentStore(db)
        t0 = time.perf_counter()
        for i in range(n):
            await store.record_events([meta(i)])
        awaited = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(n, 2 * n):
            store.record_events([meta(i)])
        await db.flush()
        batched = time.perf_counter() - t0
        await db.close()
    print(
        f"recording {n} events: awaited each {awaited:.2f}s, batched {batched:.2f}s,"
        f" ratio {awaited / batched:.1f}x"
    )
    return awaited / batched


async def expiry(rows: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "b.db")
        await db.migrate()
        db.start_writer()
        store, retention = ConsentStore(db), RetentionStore(db)
        for start in range(0, rows, 50_000):
            store.record_events([meta(i) for i in range(start, min(rows, start + 50_000))])
        await db.flush()
        cutoff = 1_000_000 + rows // 10  # 10 % expired

        async def sweep_all() -> float:
            t0 = time.perf_counter()
            for r in range(50):
                await retention.expired(RoomID(f"!r{r}:x"), cutoff, 200)
            return time.perf_counter() - t0

        indexed = min([await sweep_all() for _ in range(3)])
        await db.conn.execute("DROP INDEX event_meta_open_ids")
        await db.conn.execute("DROP INDEX event_meta_room_ts")
        scan = min([await sweep_all() for _ in range(3)])
        await db.close()
    print(
        f"expiry query over {rows} rows, 50 rooms: index {indexed * 1000:.1f}ms, scan {scan * 1000:.1f}ms, "
        f"ratio {scan / indexed:.1f}x"
    )
    return scan / indexed


async def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    await recording(2_000)
    await expiry(rows)


if __name__ == "__main__":
    asyncio.run(main())
