"""What the benchmarks share: a Synapse of their own, a bare nio bot (the floor), Lotse, people.

The bare bot is what any Matrix bot must do at least: sync, join what it is invited to, say one
encrypted line, answer ``hilfe``. Lotse does its real work on the same server in the same run;
the ratio between the two is the figure (absolute seconds on a shared machine are noise).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nio import AsyncClient, InviteMemberEvent, MatrixRoom, RoomMessageText

from bot.app import Lotse
from bot.config import Settings
from bot.devserver.synapse import SynapseServer
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
        if event.sender != client.user_id and event.body.strip().lower().lstrip("!") == "hilfe":
            # A reply, as Lotse's answer is: the benchmarks match each answer to its question.
            await client.room_send(
                room.room_id,
                "m.room.message",
                {
                    "msgtype": "m.notice",
                    "body": "Hilfe: …",
                    "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}},
                },
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
    server: SynapseServer, data: Path, worker: str, **extra: Any
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
        **extra,
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
