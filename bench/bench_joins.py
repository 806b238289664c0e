"""A burst of invitations, side by side with a bare nio bot on the same Synapse (issue #15).

    .venv/bin/python bench/bench_joins.py [--rooms 60] [--commands 10]

Each bot is invited into ``--rooms`` encrypted 1:1 rooms by as many new accounts at once (the
way clients start chats). The bare bot joins and says one encrypted line in each; Lotse does
what it does for a client (checks the room is private, starts the intake, asks for the
language). Meanwhile a worker sends ``hilfe`` to the bot in an existing 1:1 chat,
``--commands`` times, and waits for each answer. Printed: time until every room has the bot's
first message, and the answer latency during the burst, with the ratio Lotse / bare bot.
Absolute seconds on a shared 2-core machine are noise; compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bare_bot, lotse_bot, persona
from bench.results import machine, record
from bot.devserver.synapse import SynapseServer, free_port
from tests.e2e.personas import Persona


async def measure(
    server: SynapseServer, tmp: Path, worker: Persona, bot_id: str, rooms: int, commands: int
) -> dict[str, Any]:
    chat = await worker.create_room(invite=[bot_id], direct=True)
    await worker.wait_for_member(chat, bot_id, "join", timeout=120)
    await asyncio.sleep(1)
    clients = [await persona(server, tmp, "client") for _ in range(rooms)]
    for c in clients:  # warm up the clients' own sync before the clock starts
        await c.sync()

    start = time.monotonic()
    created = await asyncio.gather(*(c.create_room(invite=[bot_id], direct=True) for c in clients))
    latencies: list[float] = []
    for _ in range(commands):
        before = len(worker.from_user(chat, bot_id))
        sent = time.monotonic()
        await worker.send(chat, "hilfe")
        await worker.wait_for(lambda b=before: len(worker.from_user(chat, bot_id)) > b or None, 300, "answer")
        latencies.append(time.monotonic() - sent)
    greeted = 0
    deadline = time.monotonic() + 900
    while greeted < rooms and time.monotonic() < deadline:
        greeted = 0
        for c, room in zip(clients, created, strict=True):
            await c.sync()
            greeted += bool(c.from_user(room, bot_id))
        if greeted < rooms:
            await asyncio.sleep(0.5)
    total = time.monotonic() - start
    for p in [worker, *clients]:
        await p.close()
    return {"all_greeted_s": total, "greeted": greeted, "latencies": latencies}


def summary(name: str, r: dict[str, Any]) -> str:
    lat = r["latencies"]
    p50 = statistics.median(lat) if lat else float("nan")
    worst = max(lat) if lat else float("nan")
    return (
        f"{name:6} rooms greeted {r['greeted']:4d} in {r['all_greeted_s']:7.1f} s · "
        f"'hilfe' during the burst p50 {p50:6.2f} s, worst {worst:6.2f} s"
    )


# Measured before the fix (the parent of 78ee90c, 60 rooms, one run on 2026-12-03): a join
# waited for the next sync, which the busy worker blocked.
BEFORE_60 = {"ratio": 6.2, "all_greeted_s": 114.9, "p50": 0.19, "worst": 99.2}


def section(rooms: int, commands: int, bare: dict[str, Any], lotse: dict[str, Any]) -> str:
    def row(r: dict[str, Any]) -> tuple[str, str, str]:
        lat = r["latencies"]
        return (
            f"{r['all_greeted_s']:.1f} s",
            f"{statistics.median(lat):.2f} s" if lat else "–",
            f"{max(lat):.2f} s" if lat else "–",
        )

    ratio = lotse["all_greeted_s"] / bare["all_greeted_s"]
    b, a = row(bare), row(lotse)
    before = (
        f"| {BEFORE_60['all_greeted_s']} s | **{BEFORE_60['ratio']}×** | "
        f"{BEFORE_60['p50']} s | {BEFORE_60['worst']} s |"
    )
    return f"""## Joins: a burst of invitations (`bench_joins.py --rooms {rooms}`, issue #15.1/#15.2)

{rooms} new accounts each open an encrypted 1:1 with the bot at once; meanwhile a worker sends
`hilfe` {commands} times in their own chat with the bot. Bare bot: matrix-nio joining and greeting.
Lotse: checks the room is private, starts the intake, asks for the language. {machine()}.

| | all rooms greeted | ratio to the bare bot | `hilfe` during the burst, p50 | worst |
| --- | --- | --- | --- | --- |
| bare nio bot | {b[0]} | 1 | {b[1]} | {b[2]} |
| Lotse | {a[0]} | **{ratio:.2f}×** (target ≤ 1.5) | {a[1]} | {a[2]} |
| Lotse before the fix (60 rooms) {before}

Before: after each join the bot waited for the next sync to learn the room before it could speak
in it, up to 3 s, while the sync loop itself waited for the busy worker (a full queue): every join
cost the full timeout and everything queued behind it. After: a join (or a room the bot creates)
is learned from the server at once (`MatrixGateway.join`, `create_room`), and invitations are
handled beside everything else, four inviters at a time, so a command no longer waits behind a
burst of them (the sync token of their batch is saved once they are done). At 200 rooms before
the second change: 1.54× the bare bot, worst `hilfe` 63.6 s. What remains: during a burst the
answers share the homeserver with the invitations (p50 2.4× the bare bot's, worst under half a
second). The bot's own Python is not where the time goes (about 2 % of the samples of a py-spy
profile of the 60-room burst); per room Lotse asks more of Synapse than the bare bot (the room's
state to check it is private, its history for retention: about 10 requests per room against 7), and
leaving the history out for a run changed nothing measurable (2.43×). Not solved yet.
"""


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--commands", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = SynapseServer(tmp / "synapse", free_port())
        (tmp / "synapse").mkdir()
        server.start()
        try:
            bare_id, stop_bare = await bare_bot(server, tmp / "bare")
            worker = await persona(server, tmp, "worker")
            bare = await measure(server, tmp / "b", worker, bare_id, args.rooms, args.commands)
            await stop_bare()
            worker = await persona(server, tmp, "worker")
            lotse_id, stop_lotse = await lotse_bot(server, tmp / "lotse", worker.user_id)
            lotse = await measure(server, tmp / "l", worker, lotse_id, args.rooms, args.commands)
            await stop_lotse()
        finally:
            server.stop()
    print(summary("bare", bare))
    print(summary("lotse", lotse))
    ratio = lotse["all_greeted_s"] / bare["all_greeted_s"]
    lat_ratio = statistics.median(lotse["latencies"]) / statistics.median(bare["latencies"])
    print(f"ratio lotse/bare: burst {ratio:.2f}×, 'hilfe' p50 during the burst {lat_ratio:.2f}×")
    record("joins", section(args.rooms, args.commands, bare, lotse))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
