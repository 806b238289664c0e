"""Load (issue #14.5): many clients and workers at once against the real Synapse, the bot as
its own process. Every message's metadata is recorded exactly once, every command is
answered, the bot's memory stays flat and its answers stay prompt.

CI size: 20 clients, 4 workers (``LOTSE_LOAD_CLIENTS``, ``LOTSE_LOAD_WORKERS``,
``LOTSE_LOAD_MESSAGES`` per client for bigger runs, e.g. 200 and 20).
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import statistics
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.personas import Persona
from tests.reliability import record_row

pytestmark = pytest.mark.e2e

CLIENTS = int(os.environ.get("LOTSE_LOAD_CLIENTS", "20"))
WORKERS = int(os.environ.get("LOTSE_LOAD_WORKERS", "4"))
MESSAGES = int(os.environ.get("LOTSE_LOAD_MESSAGES", "5"))
COMMANDS = 5  # per worker, while the clients write


def metrics_url(log: Path) -> str:
    found = re.search(r"health and metrics on (http://\S+)/health", log.read_text())
    assert found, "the bot did not say where its metrics are"
    return found.group(1) + "/metrics"


def delay_within(metrics: str, share: float) -> str:
    """The smallest bucket bound of lotse_event_delay_seconds holding ``share`` of all events:
    how long the bot itself took from an event's server time to handling it."""
    buckets = [
        (float(m.group(1)), float(m.group(2)))
        for m in re.finditer(r'lotse_event_delay_seconds_bucket\{le="([^"]+)"\} (\S+)', metrics)
    ]
    total = buckets[-1][1] if buckets else 0.0
    for bound, count in buckets:
        if total and count >= share * total:
            return "∞" if bound == float("inf") else f"{bound:g} s"
    return "–"


def reaction_times(worker: Persona, room: str, bot_id: str) -> list[float]:
    """Command → the bot's answer on the homeserver's clock: the bot's own share of a latency,
    without the time the (many, CPU-sharing) test clients take to send and to sync."""
    by_id = {m.event_id: m for m in worker.messages if m.room_id == room}
    times = []
    for answer in worker.from_user(room, bot_id):
        asked = by_id.get(answer.in_reply_to or "")
        if asked is not None and asked.sender == worker.user_id:
            times.append((answer.source["origin_server_ts"] - asked.source["origin_server_ts"]) / 1000)
    return times


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - the bot's own loopback port
        return str(resp.read().decode())


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


# Setting up and running 220 encrypted clients in one process takes its time; CI size: 300 s.
@pytest.mark.timeout(max(300, 15 * (CLIENTS + WORKERS)))
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
    for w, _room, _ in rooms:
        await w.sync(timeout_ms=500)
    reactions = [t for w, room, _ in rooms for t in reaction_times(w, room, bot.user_id)]
    assert len(reactions) == WORKERS * COMMANDS, "an answer is missing from the workers' timelines"
    metrics = await asyncio.to_thread(scrape, metrics_url(bot.data_dir.parent / "bot.log"))
    size = f"{CLIENTS} clients, {WORKERS} workers, {MESSAGES} messages each"
    summary = (
        f"{len(sent)} messages and commands in {elapsed:.1f} s; "
        f"the bot's answers on the server's clock p50 {statistics.median(reactions):.2f} s, "
        f"p95 {p95(reactions):.2f} s (as the test clients saw them: "
        f"p50 {statistics.median(latencies):.2f} s, "
        f"p95 {p95(latencies):.2f} s); events handled within {delay_within(metrics, 0.5)} (half), "
        f"{delay_within(metrics, 0.95)} (95 %) of their server time; "
        f"RSS {start_rss // 1024} → {end_rss // 1024} MiB"
    )
    print(f"load: {size}: {summary}")
    record_row(
        "load",
        "## Load\n\n`tests/e2e/test_load.py` (`LOTSE_LOAD_CLIENTS`, `LOTSE_LOAD_WORKERS`, "
        "`LOTSE_LOAD_MESSAGES`), the bot as its own process against the real Synapse: every "
        "message recorded exactly once, every command answered. The test clients share one process "
        "(and the two cores with Synapse and the bot), so what they see includes their own delay; "
        "the bot's share is measured on the homeserver's clock and by the bot's own event-delay "
        "histogram. One row per size, each from its latest run.",
        size,
        summary,
    )
    # Bounds that only a stalled bot breaks, not figures (those are in docs/reliability.md).
    assert p95(reactions) < 30, f"the bot took {p95(reactions):.1f} s to answer (p95)"
    assert end_rss < start_rss * 1.5 + 20 * 1024, f"memory grew from {start_rss} to {end_rss} KiB"
