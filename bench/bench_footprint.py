"""Memory and start-up with the bot in many rooms, side by side with a bare nio bot (issue #15.6).

    .venv/bin/python bench/bench_footprint.py [--sizes 200,1000]

For each size, a bare matrix-nio bot and Lotse (each on an account of its own, each in a process
of its own) are put into that many encrypted rooms (created once by a host account; the bots
are joined through Synapse's admin API). Each bot is then started twice: a first start (empty
data directory: new device, no sync token) and a restart (its saved session and token). The
figures: time from starting the process until a worker sees the answer to ``!hilfe`` in a 1:1
chat with the bot (on a first start the bot joins that chat first), and the process's resident
memory a few seconds after that answer (and its peak). Targets: Lotse ≤ 1.5× the bare bot's
memory and ≤ 2× its start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import persona
from bench.procs import BotProcess, answer_to, settle
from bench.restartable import bot_account
from bench.results import machine, record
from bot.devserver.synapse import SynapseServer, free_port
from tests.e2e.personas import Persona

ENCRYPTED = [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]


async def make_rooms(server: SynapseServer, count: int) -> list[str]:
    """``count`` encrypted rooms owned by a host account (several at a time)."""
    host = server.register(f"host-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex, admin=True)
    headers = {"Authorization": f"Bearer {host.access_token}"}
    rooms: list[str] = []
    gate = asyncio.Semaphore(4)

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        async with gate:
            body = {"preset": "private_chat", "name": f"Raum {n}", "initial_state": ENCRYPTED}
            async with session.post(f"{server.url}/_matrix/client/v3/createRoom", json=body) as resp:
                rooms.append((await resp.json())["room_id"])

    async with aiohttp.ClientSession(headers=headers) as session:
        await asyncio.gather(*(one(session, n) for n in range(count)))
    server.host_headers = headers  # type: ignore[attr-defined]
    return rooms


async def join_all(server: SynapseServer, user_id: str, rooms: list[str]) -> None:
    """Put an account into rooms through the admin API (no invitation, no device needed)."""
    gate = asyncio.Semaphore(4)

    async def one(session: aiohttp.ClientSession, room: str) -> None:
        async with gate:
            url = f"{server.url}/_synapse/admin/v1/join/{quote(room)}"
            async with session.post(url, json={"user_id": user_id}) as resp:
                assert resp.status == 200, await resp.text()

    async with aiohttp.ClientSession(headers=server.host_headers) as session:  # type: ignore[attr-defined]
        await asyncio.gather(*(one(session, r) for r in rooms))


async def start_and_ask(worker: Persona, bot: BotProcess, room: str, *, first: bool) -> dict[str, float]:
    """Start the bot; time until the worker sees its answer to ``!hilfe``; then its memory."""
    started = bot.start()
    if first:
        # A new device: it must join the chat (the invitation waits) before it can read it.
        await worker.wait_for_member(room, bot.user_id, "join", timeout=600)
        await worker.sync()
    asked = {await worker.send(room, "!hilfe")}
    await answer_to(worker, room, bot.user_id, asked, 600)
    took = time.monotonic() - started
    await settle(worker, 3)
    rss, peak = bot.memory_mib()
    bot.stop()
    return {"start_s": took, "rss": rss, "peak": peak}


async def measure_size(
    server: SynapseServer, tmp: Path, worker: Persona, rooms: list[str], flip: bool
) -> dict[str, Any]:
    size = len(rooms)
    bots: dict[str, BotProcess] = {}
    chats: dict[str, str] = {}
    for kind in ("bare", "lotse"):
        user_id, password = bot_account(server, f"{kind}{size}")
        await join_all(server, user_id, rooms)
        workers = [worker.user_id] if kind == "lotse" else []
        bots[kind] = BotProcess(kind, server.url, user_id, password, tmp / f"{kind}-{size}", workers)
        chats[kind] = await worker.create_room(invite=[user_id], direct=True)
    order = ["lotse", "bare"] if flip else ["bare", "lotse"]
    got: dict[str, Any] = {}
    for phase in ("first", "restart"):
        for kind in order:
            got[kind, phase] = await start_and_ask(worker, bots[kind], chats[kind], first=phase == "first")
            r = got[kind, phase]
            print(
                f"{size} rooms, {kind:5} {phase:7}: answer after {r['start_s']:6.1f} s, "
                f"RSS {r['rss']:5.0f} MiB (peak {r['peak']:5.0f})",
                flush=True,
            )
        order.reverse()
    return got


# Measured before the fix at b04bf93 (this script, full size, 2026-12-03): ratios Lotse / bare.
BEFORE: dict[tuple[int, str], dict[str, float]] = {
    (200, "first"): {"rss": 1.49, "start": 1.19},
    (200, "restart"): {"rss": 1.51, "start": 1.47},
    (1000, "first"): {"rss": 1.37, "start": 1.43},
    (1000, "restart"): {"rss": 1.50, "start": 1.24},
}


def section(results: dict[int, dict[Any, dict[str, float]]]) -> str:
    rows = []
    for size, got in results.items():
        for phase in ("first", "restart"):
            b, lo = got["bare", phase], got["lotse", phase]
            rss_ratio, start_ratio = lo["rss"] / b["rss"], lo["start_s"] / b["start_s"]
            before = BEFORE.get((size, phase))
            was = f"{before['rss']:.2f}× / {before['start']:.2f}×" if before else "–"
            cells = [
                str(size),
                phase,
                f"{b['rss']:.0f} MiB ({b['peak']:.0f})",
                f"{lo['rss']:.0f} MiB ({lo['peak']:.0f})",
                f"**{rss_ratio:.2f}×**",
                f"{b['start_s']:.1f} s",
                f"{lo['start_s']:.1f} s",
                f"**{start_ratio:.2f}×**",
                was,
            ]
            rows.append("| " + " | ".join(cells) + " |")
    table = "\n".join(rows)
    return f"""## Footprint: memory and start-up in many rooms (`bench_footprint.py`, issue #15.6)

Each bot (bare matrix-nio bot, Lotse; each on its own account, in its own process) is in N
encrypted rooms. First start: empty data directory (new device, no sync token); restart: its
saved session and token. Start-up: from starting the process until the worker sees the answer to
`!hilfe` in a 1:1 chat (on a first start the bot joins that chat first). Memory: resident size 3 s
after that answer (peak in brackets). Targets: memory ≤ 1.5×, start-up ≤ 2×. {machine()}.

| rooms | start | bare RSS (peak) | Lotse RSS (peak) | RSS ratio | bare start-up | Lotse start-up \
| start-up ratio | before (RSS / start-up) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{table}

Changed for it: rooms the store does not know yet are registered in one read and one write (was
two per room); the first sync's response, the state of every room, is no longer kept alive for
the bot's whole run, and freed memory is handed back to the system after the start-up and after
a large catch-up (`malloc_trim`). What remains of the difference is mostly Lotse's own imports
(≈29 MiB and ≈0.6–1 s more than matrix-nio alone: pydantic, cryptography, babel, markdown,
aiohttp's server, its own modules), which is why a restart in few rooms is the closest call.
"""


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="200,1000", help="room counts, comma-separated")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    logging.getLogger("nio").setLevel(logging.ERROR)
    results: dict[int, dict[Any, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = SynapseServer(tmp / "synapse", free_port())
        (tmp / "synapse").mkdir()
        server.start()
        try:
            t0 = time.monotonic()
            rooms = await make_rooms(server, max(sizes))
            print(f"{len(rooms)} rooms created in {time.monotonic() - t0:.0f} s", flush=True)
            worker = await persona(server, tmp, "worker")
            for i, size in enumerate(sizes):
                results[size] = await measure_size(server, tmp, worker, rooms[:size], flip=i % 2 == 1)
            await worker.close()
        finally:
            server.stop()
    for size, got in results.items():
        for phase in ("first", "restart"):
            b, lo = got["bare", phase], got["lotse", phase]
            print(
                f"ratio lotse/bare, {size} rooms, {phase}: RSS {lo['rss'] / b['rss']:.2f}×, "
                f"start-up {lo['start_s'] / b['start_s']:.2f}×"
            )
    record("footprint", section(results))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
