"""Catching up after downtime, side by side with a bare nio client (issue #15.3).

    .venv/bin/python bench/bench_ingest.py [--messages 2000] [--rooms 5] [--senders 4] [--rounds 3]

Lotse and a bare matrix-nio client (same account kind, both in the same encrypted rooms) are
stopped; ``--senders`` people then send ``--messages`` encrypted messages spread over ``--rooms``
rooms. Each bot is started again on its saved session and sync token (in turns, the order
swapped every round, so load from elsewhere hits both alike): the figure is the time from its
start until it has every message, for the bare client decrypted, for Lotse recorded in
``event_meta``. Printed: messages per second each, and the ratio bare time / Lotse time
(target ≥ 0.8), and the CPU each spent meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nio import RoomMessageText

from bench import barebot
from bench.barebot import BareClient
from bench.common import persona
from bench.restartable import LotseRunner, bot_account
from bench.results import machine, record, spread
from bot.devserver.synapse import SynapseServer, free_port
from bot.matrix import client as lotse_client
from tests.e2e.personas import Persona


async def setup(
    server: SynapseServer, tmp: Path, rooms: int, senders: int
) -> tuple[list[Persona], list[str], BareClient, LotseRunner]:
    people = [await persona(server, tmp, "sender") for _ in range(senders)]
    bare = BareClient(server.url, *bot_account(server, "bare"), tmp / "bare")
    lotse = LotseRunner(server.url, *bot_account(server, "lotse"), tmp / "lotse", [p.user_id for p in people])
    await bare.start()
    await lotse.start()
    room_ids: list[str] = []
    for i in range(rooms):
        owner = people[i % senders]
        others = [p for p in people if p is not owner]
        room = await owner.create_room(invite=[bare.user_id, lotse.user_id, *(p.user_id for p in others)])
        for p in others:
            await p.join(room)
        room_ids.append(room)
    for room in room_ids:
        for p in people:  # everyone knows both bots' devices before they go down
            await p.wait_for_member(room, bare.user_id, "join", timeout=120)
            await p.wait_for_member(room, lotse.user_id, "join", timeout=120)
    await asyncio.sleep(2)  # let both finish what they do after joining (greetings)
    await bare.stop()
    await lotse.stop()
    for p in people:
        await p.sync()
    return people, room_ids, bare, lotse


async def send_backlog(people: list[Persona], rooms: list[str], count: int, tag: str) -> set[str]:
    async def one(index: int, p: Persona) -> list[str]:
        mine = [i for i in range(count) if i % len(people) == index]
        return [await p.send(rooms[i % len(rooms)], f"{tag} message {i}") for i in mine]

    sent = await asyncio.gather(*(one(i, p) for i, p in enumerate(people)))
    return {e for batch in sent for e in batch}


def _recorded(db: Path, events: set[str]) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        wanted = sorted(events)
        found = 0
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ", ".join("?" for _ in chunk)
            found += con.execute(
                f"SELECT COUNT(*) FROM event_meta WHERE event_id IN ({marks})",  # noqa: S608 - only ?s
                chunk,
            ).fetchone()[0]
    finally:
        con.close()
    return int(found)


async def time_bare(bare: BareClient, events: set[str]) -> dict[str, float]:
    seen: set[str] = set()

    def on_text(_room: str, event: RoomMessageText) -> None:
        if event.event_id in events:
            seen.add(event.event_id)

    bare.on_text = on_text
    cpu, start = time.process_time(), time.monotonic()
    await bare.start()
    while len(seen) < len(events):
        if time.monotonic() - start > 900:
            raise RuntimeError(f"bare client: {len(seen)} of {len(events)} after 900 s")
        await asyncio.sleep(0.01)
    took, cpu_s = time.monotonic() - start, time.process_time() - cpu
    await bare.stop()
    return {"s": took, "cpu": cpu_s}


async def time_lotse(lotse: LotseRunner, events: set[str]) -> dict[str, float]:
    db = lotse.data / "lotse.db"
    cpu, start = time.process_time(), time.monotonic()
    await lotse.start(wait_ready=False)
    while await asyncio.to_thread(_recorded, db, events) < len(events):
        if time.monotonic() - start > 900:
            raise RuntimeError("Lotse did not record the backlog within 900 s")
        await asyncio.sleep(0.02)
    took, cpu_s = time.monotonic() - start, time.process_time() - cpu
    await lotse.stop()
    return {"s": took, "cpu": cpu_s}


# Measured before the fix, at b04bf93 (2,000 messages, 5 rooms, 4 senders, 3 rounds, 2026-12-03).
BEFORE: dict[str, Any] = {
    "commit": "b04bf93",
    "bare_rate": 676,
    "lotse_rate": 241,
    "ratio": 0.36,
    "cpu": 3.97,
}


def section(args: argparse.Namespace, bare: list[dict[str, float]], lotse: list[dict[str, float]]) -> str:
    n = args.messages
    bs, ls = [r["s"] for r in bare], [r["s"] for r in lotse]
    ratio = statistics.median(bs) / statistics.median(ls)
    cpu = statistics.median(r["cpu"] for r in lotse) / statistics.median(r["cpu"] for r in bare)
    b = BEFORE
    rate = {k: f"{n / statistics.median(v):.0f}" for k, v in (("bare", bs), ("lotse", ls))}
    cpu_s = {
        k: f"{statistics.median(r['cpu'] for r in v):.2f} s" for k, v in (("bare", bare), ("lotse", lotse))
    }
    return f"""## Ingest: catching up after downtime (`bench_ingest.py --messages {n}`, issue #15.3)

Both bots are down while {args.senders} people send {n} encrypted messages into {args.rooms} rooms
both bots are in; then each is started on its saved session and sync token, in turns ({args.rounds}
rounds, the order swapped every round). Time from the start until every message is decrypted
(bare matrix-nio client, same sync filter, gaps of limited timelines filled) or recorded in
`event_meta` (Lotse). {machine()}.

| | time to catch up, median (range) | messages/s | CPU, median |
| --- | --- | --- | --- |
| bare nio client | {spread(bs)} | {rate["bare"]} | {cpu_s["bare"]} |
| Lotse | {spread(ls)} | {rate["lotse"]} | {cpu_s["lotse"]} |
| **ratio** bare time / Lotse time | **{ratio:.2f}** (target ≥ 0.8) | | Lotse/bare CPU {cpu:.2f}× |
| before ({b["commit"]}) | ratio {b["ratio"]} | bare {b["bare_rate"]}/s, Lotse {b["lotse_rate"]}/s \
| CPU {b["cpu"]}× |

Before: per event a metadata write, and per message three store reads (handled before? room
kind, sender's language) and an awaited commit of its handled mark; the reads crossed to
aiosqlite's thread and waited behind the GIL while nio parsed the next back-filled page
(≈6 ms a message), and the worker got nothing until every room's gap was fetched. After: one
metadata write and one handled-lookup per batch, room kinds kept in memory, no language read for
a message that is no command, marks not awaited one by one (the sync token still is, after
them), and the rooms before a gap go to the worker while the gap is fetched.
"""


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rooms", type=int, default=5)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    assert barebot.sync_filter(50) == lotse_client.sync_filter(50), "the bare client syncs as Lotse does"
    logging.getLogger("nio").setLevel(logging.ERROR)  # the people's clients' key chatter
    bare_runs: list[dict[str, float]] = []
    lotse_runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = SynapseServer(tmp / "synapse", free_port())
        (tmp / "synapse").mkdir()
        server.start()
        try:
            people, rooms, bare, lotse = await setup(server, tmp, args.rooms, args.senders)
            for r in range(args.rounds):
                events = await send_backlog(people, rooms, args.messages, f"round {r}")
                sides = [("bare", bare), ("lotse", lotse)]
                for name, _ in sides if r % 2 == 0 else reversed(sides):
                    if name == "bare":
                        bare_runs.append(await time_bare(bare, events))
                        got = bare_runs[-1]
                    else:
                        lotse_runs.append(await time_lotse(lotse, events))
                        got = lotse_runs[-1]
                    rate = args.messages / got["s"]
                    print(f"round {r} {name:5}: {got['s']:6.2f} s, {rate:6.0f}/s, cpu {got['cpu']:.2f} s")
            for p in people:
                await p.close()
        finally:
            server.stop()
    bs = statistics.median(r["s"] for r in bare_runs)
    ls = statistics.median(r["s"] for r in lotse_runs)
    n = args.messages
    print(f"ratio bare/lotse time: {bs / ls:.2f} (bare {n / bs:.0f}/s, lotse {n / ls:.0f}/s)")
    record("ingest", section(args, bare_runs, lotse_runs))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
