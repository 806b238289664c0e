"""The bot rides out a homeserver that goes away, comes back, and rate-limits it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.devserver.synapse import SynapseServer, free_port
from tests.e2e.conftest import BotHarness, unique
from tests.e2e.personas import Persona

pytestmark = pytest.mark.e2e

# Strict message limits, as on a production server without an exemption for the bot.
STRICT = {"rc_message": {"per_second": 0.5, "burst_count": 3}}


@pytest.fixture
def own_synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    server = SynapseServer(tmp_path_factory.mktemp("own-synapse"), free_port())
    server.start(extra=STRICT)
    yield server
    server.stop()


@pytest.fixture
async def setup(own_synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[tuple[BotHarness, Persona]]:
    localpart, password = unique("lotse"), uuid.uuid4().hex
    # Not a server admin here: Synapse exempts admins from message rate limits.
    own_synapse.register(localpart, password, admin=False, user_type="bot")
    harness = BotHarness(own_synapse, tmp_path / "bot", localpart, password)
    # The worker is exempt from the limit so that only the bot's replies run into it.
    account = own_synapse.register(unique("worker"), "pw-worker", admin=True)
    status, _ = own_synapse.api(
        "POST",
        f"/_synapse/admin/v1/users/{account.user_id}/override_ratelimit",
        {"messages_per_second": 0, "burst_count": 0},
        account.access_token,
    )
    assert status == 200
    worker = Persona(own_synapse.url, account, tmp_path / "w")
    await worker.sync()
    harness.workers = [worker.user_id]
    # The worker is the admin too: the admin room hears about the outage.
    harness.admins = [worker.user_id]
    harness.rooms = {"admin": await worker.create_room(invite=[harness.user_id], name="Admin")}
    harness.extra = {"homeserver": {"outage_notice_seconds": 2}}
    yield harness, worker
    await harness.stop()
    await worker.close()


async def _answered(worker: Persona, room: str, bot: BotHarness, events: list[str], timeout: float) -> None:
    await worker.wait_for(
        lambda: {m.in_reply_to for m in worker.from_user(room, bot.user_id)} >= set(events),
        timeout=timeout,
        what="answers",
    )


async def test_homeserver_outage_and_rate_limits(
    own_synapse: SynapseServer, setup: tuple[BotHarness, Persona], caplog: pytest.LogCaptureFixture
) -> None:
    bot, worker = setup
    await bot.start()
    room = await worker.create_room(invite=[bot.user_id])
    await worker.wait_for_member(room, bot.user_id, "join")
    first = await worker.send(room, "!hilfe")
    await _answered(worker, room, bot, [first], 30)

    # The homeserver goes away while the bot is long-polling, and stays away a while.
    own_synapse.stop()
    gateway = bot.instance.gateway  # type: ignore[union-attr]
    await asyncio.sleep(4)
    assert not gateway.online, "the bot did not notice the homeserver was gone"
    assert bot.running, "the bot gave up instead of waiting for the homeserver"

    # … and comes back on the same address with the same data.
    own_synapse.start(extra=STRICT)
    burst = [await worker.send(room, "!hilfe") for _ in range(6)]
    # Six replies at 0.5/s with a burst of 3: the bot must take the 429s and wait, not drop.
    await _answered(worker, room, bot, burst, 90)
    assert gateway.online
    await worker.sync(timeout_ms=1000)
    replies = [m.in_reply_to for m in worker.from_user(room, bot.user_id)]
    assert all(replies.count(e) == 1 for e in [first, *burst])
    # The admins learn the bot waited for the homeserver, and for how long.
    await worker.wait_for_text(bot.rooms["admin"], bot.user_id, "Der Homeserver war etwa", timeout=30)
    limited = [r for r in caplog.records if r.name == "bot.matrix.client" and "429" in r.getMessage()]
    assert limited, "the test did not make the bot hit the rate limit"
