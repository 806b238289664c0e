"""What the bot asks of the homeserver per sync: no work repeated for nothing (issue #15)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from bot.matrix.client import TIMELINE_TYPES
from tests.e2e.conftest import BotHarness, PersonaFactory

pytestmark = pytest.mark.e2e


async def test_answering_in_two_rooms_does_not_query_the_bots_own_keys_again_and_again(
    bot: BotHarness, persona: PersonaFactory
) -> None:
    """Synapse repeats the bot's own membership (lazy loading) whenever it last wrote in another
    room, and lists the bot under device_lists.changed; nio then asked for the bot's own keys
    after nearly every answer (one extra request per redaction during a sweep)."""
    worker = await persona("worker")
    bot.workers = [worker.user_id]
    lotse = await bot.start()
    rooms = [
        await worker.create_room(invite=[bot.user_id], encrypted=True, name=name) for name in ("Eins", "Zwei")
    ]
    for room in rooms:
        await worker.wait_for_member(room, bot.user_id, "join")
    assert lotse.gateway is not None
    client = lotse.gateway.client
    asked: Counter[str] = Counter()
    query = client.keys_query

    async def counted() -> Any:
        for user in client.users_for_key_query:
            asked[user] += 1
        return await query()

    client.keys_query = counted  # type: ignore[method-assign]
    for i in range(6):
        room = rooms[i % 2]
        command = await worker.send(room, "!hilfe")
        await worker.wait_for(
            lambda r=room, c=command: [m for m in worker.from_user(r, bot.user_id) if m.in_reply_to == c],
            what="help reply",
        )
    assert asked[bot.user_id] <= 1, asked
    assert worker.undecryptable == 0


def test_the_bot_is_not_woken_by_redactions() -> None:
    """Nothing handles redaction events, and the sweep's own redactions would wake the sync
    once per redaction (measured: the homeserver's work per swept message up by a tenth)."""
    assert "m.room.redaction" not in TIMELINE_TYPES
