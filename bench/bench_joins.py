"""A burst of invitations, side by side with a bare nio bot on the same Synapse (issue #15).

    .venv/bin/python bench/bench_joins.py [--burst 60] [--rooms 200] [--commands 10]

Each bot is invited into ``--burst`` and then ``--rooms`` encrypted 1:1 rooms by as many new
accounts at once (the way clients start chats). The bare bot joins and says one encrypted
line in each; Lotse does what it does for a client (checks the room is private, starts the
intake, asks for the language). Meanwhile a worker sends ``hilfe`` to the bot in an existing 1:1 chat,
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
from bench.procs import ask_for_help, settle
from bench.results import machine, record
from bot.devserver.synapse import SynapseServer, free_port
from tests.e2e.personas import Persona


async def measure(
    server: SynapseServer, tmp: Path, worker: Persona, bot_id: str, bursts: list[int], commands: int
) -> list[dict[str, Any]]:
    chat = await worker.create_room(invite=[bot_id], direct=True)
    await worker.wait_for_member(chat, bot_id, "join", timeout=120)
    await settle(worker, 1)  # the bot's greeting of this chat
    got = [
        await burst(server, tmp / str(n), worker, chat, bot_id, rooms, commands)
        for n, rooms in enumerate(bursts)
    ]
    await worker.close()
    return got


async def burst(
    server: SynapseServer, tmp: Path, worker: Persona, chat: str, bot_id: str, rooms: int, commands: int
) -> dict[str, Any]:
    clients = [await persona(server, tmp, "client") for _ in range(rooms)]
    for c in clients:  # warm up the clients' own sync before the clock starts
        await c.sync()

    start = time.monotonic()
    created = await asyncio.gather(*(c.create_room(invite=[bot_id], direct=True) for c in clients))
    latencies: list[float] = []
    for _ in range(commands):
        # Each answer is matched to its question: counting the bot's messages took its greeting
        # of this chat, seen late, for the first answer, and every later one for the one before.
        latencies.append(await ask_for_help(worker, chat, bot_id, timeout=300))
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
    for p in clients:
        await p.close()
    return {"rooms": rooms, "all_greeted_s": total, "greeted": greeted, "latencies": latencies}


def summary(name: str, r: dict[str, Any]) -> str:
    lat = r["latencies"]
    p50 = statistics.median(lat) if lat else float("nan")
    worst = max(lat) if lat else float("nan")
    return (
        f"{name:6} {r['rooms']:4d} rooms: greeted {r['greeted']:4d} in {r['all_greeted_s']:7.1f} s · "
        f"'hilfe' during the burst p50 {p50:6.2f} s, worst {worst:6.2f} s"
    )


def p50(r: dict[str, Any]) -> float:
    return statistics.median(r["latencies"]) if r["latencies"] else float("nan")


# Measured before the fix (the parent of 78ee90c, 60 rooms, one run on 2026-12-03): a join
# waited for the next sync, which the busy worker blocked. (Its `hilfe` p50 was taken by
# counting the bot's messages, which was off by one answer; the worst case was real.)
BEFORE_60 = {"ratio": 6.2, "all_greeted_s": 114.9, "worst": 99.2}
# Invitations handled four at a time (7b4874e), `hilfe` matched to its answer, 60 rooms, two
# runs on 2026-12-04: p50 0.69 s against 0.19 s and 0.74 s against 0.21 s.
FOUR_AT_A_TIME_60 = {"p50": "0.69 / 0.74 s", "ratio": "3.70× / 3.47×"}


def section(commands: int, bare: list[dict[str, Any]], lotse: list[dict[str, Any]]) -> str:
    def lat(r: dict[str, Any]) -> str:
        worst = max(r["latencies"]) if r["latencies"] else float("nan")
        return f"{p50(r):.2f} s | {worst:.2f} s"

    rows = []
    for b, a in zip(bare, lotse, strict=True):
        n = b["rooms"]
        joins = a["all_greeted_s"] / b["all_greeted_s"]
        rows.append(f"| {n} | bare nio bot | {b['all_greeted_s']:.1f} s | 1 | {lat(b)} | 1 |")
        answers = p50(a) / p50(b)
        rows.append(
            f"| {n} | Lotse | {a['all_greeted_s']:.1f} s | **{joins:.2f}×** | {lat(a)} | **{answers:.2f}×** |"
        )
    b0, f4 = BEFORE_60, FOUR_AT_A_TIME_60
    rows.append(
        f"| 60 | Lotse before the first fix | {b0['all_greeted_s']} s | **{b0['ratio']}×** | – "
        f"| {b0['worst']} s | – |"
    )
    rows.append(f"| 60 | Lotse, four invitations at a time | | | {f4['p50']} | | **{f4['ratio']}** |")
    table = "\n".join(rows)
    return f"""## Joins: a burst of invitations (`bench_joins.py`, issue #15.1/#15.2)

New accounts each open an encrypted 1:1 with the bot at once: first {bare[0]["rooms"]} (the issue's
burst for the latency target), then {bare[-1]["rooms"]} (its join target). Once their rooms exist,
a worker sends `!hilfe` {commands} times in their own chat with the bot, each time waiting for the
answer to that command (matched by its reply). Bare bot: matrix-nio joining and greeting.
Lotse: checks the room is private, starts the intake, asks for the language. {machine()}.

| burst | | all greeted | ratio (target ≤ 1.5) | `hilfe` p50 | worst | `hilfe` p50 ratio (target ≤ 1.2) |
| --- | --- | --- | --- | --- | --- | --- |
{table}

First fix: after each join the bot waited for the next sync to learn the room before it could
speak in it, up to 3 s, while the sync loop itself waited for the busy worker (a full queue): every
join cost the full timeout and everything queued behind it. Now a join (or a room the bot creates)
is learned from the server at once (`MatrixGateway.join`, `create_room`), and invitations are
handled beside everything else, so a command never waits behind a burst of them (the sync token
of their batch is saved once they are done).

Second fix: invitations are handled one at a time, in the order they came. Four at a time they
greeted no one sooner (the homeserver is what limits a burst: the bare bot, one at a time, was as
fast), but every request of the homeserver queued behind their joins, the worker's command and the
bot's answer included: 3.5× the bare bot's `hilfe` time. Two at a time: 1.31×; one: 1.06× and
0.98× in two runs of 60. Third fix: Synapse marks the timeline of a room just joined as limited
even when it begins with the room's creation; the bot fetched that "gap" (two history requests per
new chat, in the sync loop). A timeline that begins with `m.room.create` has nothing before it.
(The earlier figures here counted the bot's messages to spot an answer,
which took the chat's greeting, seen late, for the first answer and each answer for the next
command's: a whole answer too early. Each answer is now matched to its command.)
"""


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rooms", type=int, default=200, help="the burst that times the joins")
    parser.add_argument("--burst", type=int, default=60, help="a first, smaller burst (0: none)")
    parser.add_argument("--commands", type=int, default=20)
    args = parser.parse_args()
    bursts = [n for n in (args.burst, args.rooms) if n > 0]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = SynapseServer(tmp / "synapse", free_port())
        (tmp / "synapse").mkdir()
        server.start()
        try:
            bare_id, stop_bare = await bare_bot(server, tmp / "bare")
            worker = await persona(server, tmp, "worker")
            bare = await measure(server, tmp / "b", worker, bare_id, bursts, args.commands)
            await stop_bare()
            worker = await persona(server, tmp, "worker")
            lotse_id, stop_lotse = await lotse_bot(server, tmp / "lotse", worker.user_id)
            lotse = await measure(server, tmp / "l", worker, lotse_id, bursts, args.commands)
            await stop_lotse()
        finally:
            server.stop()
    for b, a in zip(bare, lotse, strict=True):
        print(summary("bare", b))
        print(summary("lotse", a))
        print(
            f"ratio lotse/bare at {b['rooms']} rooms: joins {a['all_greeted_s'] / b['all_greeted_s']:.2f}×, "
            f"'hilfe' p50 during the burst {p50(a) / p50(b):.2f}×"
        )
    record("joins", section(args.commands, bare, lotse))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
