"""End-to-end fixtures: one real Synapse per test session, fresh accounts and a bot per test."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
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


def lotse_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``lotse ARGS`` as an admin types it: a new process, no LOTSE_ variables of the test's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


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
        self.worker_rooms: list[str] = []
        self.rooms: dict[str, str] = {}
        self.extra: dict[str, Any] = {}
        self.instance: Lotse | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def settings(self) -> Settings:
        extra = self._extra()
        return Settings(
            homeserver={"url": self.server.url, **extra.pop("homeserver", {})},
            bot={"user_id": self.user_id, "password": self.password},
            data_dir=self.data_dir,
            roles={"workers": self.workers, "admins": self.admins, "worker_rooms": self.worker_rooms},
            rooms=self.rooms,
            **extra,
        )

    def _extra(self) -> dict[str, Any]:
        """The test's extra settings; the join page and the health endpoint on free ports unless
        a test chooses them (several bots, and the demo, run at once in one test session)."""
        extra = dict(self.extra)
        extra["onboarding"] = {"page_port": 0, **extra.get("onboarding", {})}
        extra["health"] = {"port": 0, **extra.get("health", {})}
        return extra

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
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
            self.process = None
        if self._task is None or self._stop is None:
            return
        self._stop.set()
        await asyncio.wait_for(self._task, 60)
        self._task = None

    # -- as a separate process, for crash tests -------------------------------------------

    def config_toml(self) -> Path:
        top: dict[str, Any] = {"data_dir": str(self.data_dir), "log_level": "INFO"}
        sections: dict[str, dict[str, Any]] = {
            "homeserver": {"url": self.server.url},
            "bot": {"user_id": self.user_id, "password": self.password},
            "roles": {"workers": self.workers, "admins": self.admins},
            "rooms": dict(self.rooms),
        }
        for key, value in self._extra().items():
            if isinstance(value, dict):
                sections[key] = {**sections.get(key, {}), **value}
            else:
                top[key] = str(value) if isinstance(value, Path) else value
        lines = [f"{k} = {json.dumps(v)}" for k, v in top.items()]
        for name, values in sections.items():
            lines.append(f"[{name}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        path = self.data_dir.parent / "lotse.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    async def start_process(self, timeout: float = 60.0, *, wrapper: Sequence[str] = ()) -> None:
        """The bot as its own process (``wrapper``: a command line it runs under, e.g. unshare)."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir.parent / "bot.log").open("ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
        self.process = subprocess.Popen(  # noqa: ASYNC220 - a test harness, once per start
            [*wrapper, sys.executable, "-m", "bot", "-c", str(self.config_toml()), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + timeout
        logfile = self.data_dir.parent / "bot.log"
        while b"Lotse is running" not in logfile.read_bytes().split(b"Lotse stopped")[-1]:
            if self.process.poll() is not None:
                raise AssertionError(f"bot process exited: {logfile.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("bot process did not become ready")
            await asyncio.sleep(0.1)

    def kill_process(self) -> None:
        """SIGKILL: no clean-up, no flush, like a power cut for the process."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None

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


async def with_team(
    bot: BotHarness, persona: PersonaFactory, *, process: bool = False
) -> tuple[Persona, str]:
    """A worker, their team room, and the bot running in it (in-process or as its own process)."""
    worker = await persona("worker")
    bot.workers = [worker.user_id]
    team = await worker.create_room(invite=[bot.user_id], name="Team")
    bot.rooms = {"team": team}
    await (bot.start_process() if process else bot.start())
    await worker.wait_for_member(team, bot.user_id, "join")
    return worker, team


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
