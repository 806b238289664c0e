"""End-to-end fixtures: one real Synapse per test session, fresh accounts and a bot per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import Lotse
from bot.config import Settings
from bot.devserver.synapse import SynapseServer, free_port
from tests.e2e.personas import Persona

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    server = SynapseServer(tmp_path_factory.mktemp("synapse"), free_port())
    server.start()
    assert server.alive()
    yield server
    server.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class BotHarness:
    """The bot under test, run in-process so a test can stop and restart it."""

    def __init__(self, server: SynapseServer, data_dir: Path, localpart: str, password: str) -> None:
        self.server = server
        self.data_dir = data_dir
        self.user_id = f"@{localpart}:{server.server_name}"
        self.password = password
        self.workers: list[str] = []
        self.admins: list[str] = []
        self.rooms: dict[str, str] = {}
        self.extra: dict[str, Any] = {}
        self.instance: Lotse | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    def settings(self) -> Settings:
        return Settings(
            homeserver={"url": self.server.url},
            bot={"user_id": self.user_id, "password": self.password},
            data_dir=self.data_dir,
            roles={"workers": self.workers, "admins": self.admins},
            rooms=self.rooms,
            **self.extra,
        )

    async def start(self, timeout: float = 60.0) -> Lotse:
        self._stop = asyncio.Event()
        self.instance = Lotse(self.settings())
        self._task = asyncio.create_task(self.instance.run(self._stop))
        ready = asyncio.create_task(self.instance.ready.wait())
        done, _ = await asyncio.wait(
            {self._task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if self._task in done:
            ready.cancel()
            task, self._task = self._task, None
            task.result()  # raises what stopped the bot
        if ready not in done:
            raise AssertionError("bot did not become ready")
        return self.instance

    async def stop(self) -> None:
        if self._task is None or self._stop is None:
            return
        self._stop.set()
        await asyncio.wait_for(self._task, 60)
        self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()


@pytest.fixture
async def bot(synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[BotHarness]:
    localpart = unique("lotse")
    password = uuid.uuid4().hex
    synapse.register(localpart, password, admin=True, user_type="bot")
    harness = BotHarness(synapse, tmp_path / "bot-data", localpart, password)
    yield harness
    await harness.stop()


PersonaFactory = Callable[[str], Awaitable[Persona]]


@pytest.fixture
async def persona(synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[PersonaFactory]:
    made: list[Persona] = []

    async def make(role: str) -> Persona:
        account = synapse.register(unique(role), uuid.uuid4().hex)
        p = Persona(synapse.url, account, tmp_path / f"store-{account.user_id[1:].split(':')[0]}")
        await p.sync()
        made.append(p)
        return p

    yield make
    for p in made:
        await p.close()
