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
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nio import AsyncClient, InviteMemberEvent, MatrixRoom, RoomMessageText

from bot.app import Lotse
from bot.config import Settings
from bot.devserver.synapse import SynapseServer, free_port
from tests.e2e.personas import Persona


async def bare_bot(server: SynapseServer, store: Path) -> tuple[str, Callable[[], Awaitable[None]]]:
    """A minimal nio bot: joins every invitation, greets, answers "hilfe"."""
    account = server.register(f"bare-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex)
    store.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    client = AsyncClient(server.url, account.user_id, store_path=str(store))
    await client.login(account.password)

    async def on_invite(room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key == client.user_id and event.membership == "invite":
            await client.join(room.room_id)
            await client.sync(timeout=0)
            await client.room_send(
                room.room_id,
                "m.room.message",
                {"msgtype": "m.notice", "body": "Hallo!"},
                ignore_unverified_devices=True,
            )

    async def on_text(room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender != client.user_id and event.body.strip().lower() == "hilfe":
            await client.room_send(
                room.room_id,
                "m.room.message",
                {"msgtype": "m.notice", "body": "Hilfe: …"},
                ignore_unverified_devices=True,
            )

    client.add_event_callback(on_invite, InviteMemberEvent)  # type: ignore[arg-type]
    client.add_event_callback(on_text, RoomMessageText)  # type: ignore[arg-type]
    await client.sync(timeout=0, full_state=True)
    task = asyncio.create_task(client.sync_forever(timeout=30_000))

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()

    return account.user_id, stop


async def lotse_bot(
    server: SynapseServer, data: Path, worker: str
) -> tuple[str, Callable[[], Awaitable[None]]]:
    localpart, password = f"lotse-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    server.register(localpart, password, admin=True, user_type="bot")
    settings = Settings(
        homeserver={"url": server.url},
        bot={"user_id": f"@{localpart}:{server.server_name}", "password": password},
        data_dir=data,
        roles={"workers": [worker]},
        onboarding={"page_port": 0},
        retention={"sweep_minutes": 10_000},
        log_level="WARNING",
    )
    bot = Lotse(settings)
    stop_event = asyncio.Event()
    task = asyncio.create_task(bot.run(stop_event))
    await asyncio.wait_for(bot.ready.wait(), 120)

    async def stop() -> None:
        stop_event.set()
        await asyncio.wait_for(task, 60)

    return settings.bot.uid, stop


async def persona(server: SynapseServer, tmp: Path, prefix: str) -> Persona:
    account = server.register(f"{prefix}-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex)
    p = Persona(server.url, account, tmp / f"store-{account.user_id[1:].split(':')[0]}")
    await p.sync()
    return p


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


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rooms", type=int, default=60)
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
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
