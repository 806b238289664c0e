"""Lotse, stopped and started again on the same account and data directory (issue #15).

The ingest, footprint and latency benchmarks restart a bot on purpose: a backlog builds up
while it is down, or the start-up itself is the figure. The bare bot they compare with is
``bench/barebot.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from bot.app import Lotse
from bot.config import Settings
from bot.devserver.synapse import SynapseServer


def bot_account(server: SynapseServer, prefix: str) -> tuple[str, str]:
    """A bot account (user ID, password): a server admin of user type bot, as Lotse runs."""
    localpart, password = f"{prefix}-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    server.register(localpart, password, admin=True, user_type="bot")
    return f"@{localpart}:{server.server_name}", password


class LotseRunner:
    """Lotse in this process on one account and data directory, started and stopped at will."""

    def __init__(
        self, url: str, user_id: str, password: str, data: Path, workers: list[str], **extra: Any
    ) -> None:
        self.data = data
        self.user_id = user_id
        self.settings = Settings(
            homeserver={"url": url},
            bot={"user_id": user_id, "password": password},
            data_dir=data,
            roles={"workers": workers},
            onboarding={"page_port": 0},
            retention={"sweep_minutes": 10_000},
            log_level="WARNING",
            **extra,
        )
        self.bot: Lotse | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, *, wait_ready: bool = True) -> Lotse:
        self.bot = Lotse(self.settings)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.bot.run(self._stop))
        if wait_ready:
            await self.ready()
        return self.bot

    async def ready(self) -> None:
        assert self.bot is not None and self._task is not None
        waiter = asyncio.create_task(self.bot.ready.wait())
        await asyncio.wait({waiter, self._task}, timeout=300, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            waiter.cancel()
            self._task.result()  # raises what went wrong
        assert waiter.done(), "Lotse did not become ready"

    async def stop(self) -> None:
        if self._stop is not None and self._task is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 120)
        self._task = None
