"""Load (issue #14.5): many clients and workers at once against the real Synapse, the bot as
its own process. Every message's metadata is recorded exactly once, every command is
answered, the bot's memory stays flat and its answers stay prompt.

CI size: 20 clients, 4 workers (``LOTSE_LOAD_CLIENTS``, ``LOTSE_LOAD_WORKERS``,
``LOTSE_LOAD_MESSAGES`` per client for bigger runs, e.g. 200 and 20).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.personas import Persona
from tests.reliability import record

pytestmark = pytest.mark.e2e

CLIENTS = int(os.environ.get("LOTSE_LOAD_CLIENTS", "20"))
WORKERS = int(os.environ.get("LOTSE_LOAD_WORKERS", "4"))
MESSAGES = int(os.environ.get("LOTSE_LOAD_MESSAGES", "5"))
COMMANDS = 5  # per worker, while the clients write


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_many_at_once(bot: BotHarness, persona: PersonaFactory) -> None:
    workers = [await persona("worker") for _ in range(WORKERS)]
    clients = [await persona("client") for _ in range(CLIENTS)]
    bot.workers = [w.user_id for w in workers]
    bot.extra = {"retention": {"sweep_minutes": 1000}}
    await bot.start_process()
    assert bot.process is not None
    pid = bot.process.pid

    # Each worker has a group room with the bot and their share of the clients.
    rooms: list[tuple[Persona, str, list[Persona]]] = []
    for i, worker in enumerate(workers):
        mine = clients[i::WORKERS]
        room = await worker.create_room(invite=[bot.user_id, *(c.user_id for c in mine)], name=f"Gruppe {i}")
        for c in mine:
            await c.join(room)
        await worker.wait_for_member(room, bot.user_id, "join", timeout=60)
        rooms.append((worker, room, mine))
    await asyncio.sleep(2)
    start_rss = rss_kib(pid)

    sent: list[str] = []

    async def client_writes(c: Persona, room: str) -> None:
        for n in range(MESSAGES):
            sent.append(await c.send(room, f"Nachricht {n}"))

    latencies: list[float] = []

    async def worker_asks(w: Persona, room: str) -> None:
        for _ in range(COMMANDS):
            before = len(w.from_user(room, bot.user_id))
            t0 = time.monotonic()
            sent.append(await w.send(room, "!hilfe"))
            await w.wait_for(
                lambda b=before: len(w.from_user(room, bot.user_id)) > b or None, 120, "an answer"
            )
            latencies.append(time.monotonic() - t0)

    t0 = time.monotonic()
    await asyncio.gather(
        *(client_writes(c, room) for _, room, mine in rooms for c in mine),
        *(worker_asks(w, room) for w, room, _ in rooms),
    )
    elapsed = time.monotonic() - t0

    # Every message recorded exactly once (the store keys metadata by event ID).
    db_path = bot.data_dir / "lotse.db"
    deadline = time.monotonic() + 60
    while True:
        with sqlite3.connect(db_path) as conn:
            counts = dict(
                conn.execute("SELECT event_id, COUNT(*) FROM event_meta GROUP BY event_id").fetchall()
            )
            found = [(e, counts[e]) for e in sent if e in counts]
        if len(found) == len(sent) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    end_rss = rss_kib(pid)
    assert len(found) == len(sent), f"{len(sent) - len(found)} of {len(sent)} messages not recorded"
    assert {n for _, n in found} == {1}
    assert len(latencies) == WORKERS * COMMANDS  # every command answered
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 2 else latencies[0]
    summary = (
        f"{CLIENTS} clients, {WORKERS} workers, {len(sent)} messages in {elapsed:.1f} s; "
        f"answers p50 {statistics.median(latencies):.2f} s, p95 {p95:.2f} s; "
        f"RSS {start_rss // 1024} → {end_rss // 1024} MiB"
    )
    print(f"load: {summary}")
    record(
        "load",
        "## Load\n\n`tests/e2e/test_load.py` (`LOTSE_LOAD_CLIENTS`, `LOTSE_LOAD_WORKERS`, "
        "`LOTSE_LOAD_MESSAGES`), the bot as its own process against the real Synapse: every "
        f"message recorded exactly once, every command answered.\n\n| run | figures |\n| --- | --- |\n"
        f"| latest | {summary} |",
    )
    assert p95 < 15, f"answers took {p95:.1f} s (p95)"
    assert end_rss < start_rss * 1.5 + 20 * 1024, f"memory grew from {start_rss} to {end_rss} KiB"
