"""An edit never changes a recorded decision (issue #14.2): a client who answered "nein" and
then edits it to "ja" has still declined; the bot says it reads new messages only."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.test_stats import say

pytestmark = pytest.mark.e2e


async def test_an_edited_no_stays_no(bot: BotHarness, persona: PersonaFactory) -> None:
    worker, client = await persona("worker"), await persona("client")
    team = await worker.create_room(invite=[bot.user_id], name="Team")
    bot.workers = [worker.user_id]
    bot.rooms = {"team": team}
    bot.extra = {"retention": {"sweep_minutes": 1000}}
    await bot.start()
    await worker.wait_for_member(team, bot.user_id, "join")
    await say(worker, team, bot.user_id, "!bestätigen")
    await say(worker, team, bot.user_id, f"!neu {client.user_id}")
    room = await client.accept_invite_from(bot.user_id)
    await client.wait_for_text(room, bot.user_id, "1. Deutsch")
    await client.send(room, "1")
    await client.wait_for_text(room, bot.user_id, "Bist du 16 Jahre oder älter?")
    await client.send(room, "ja")
    await client.wait_for_text(room, bot.user_id, "Bist du damit einverstanden?")
    no = await client.send(room, "nein")
    await client.wait_for_text(room, bot.user_id, "Danke für deine Antwort")
    await client.client.room_send(
        room,
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": "* ja",
            "m.new_content": {"msgtype": "m.text", "body": "ja"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": no},
        },
        ignore_unverified_devices=True,
    )
    await client.wait_for_text(room, bot.user_id, "Bearbeitete Nachrichten lese ich nicht")
    assert bot.instance is not None and bot.instance.ctx is not None
    ctx = bot.instance.ctx
    latest = await ctx.consent.latest(ctx.subject(client.user_id), "client")  # type: ignore[arg-type]
    assert latest is not None and latest.decision == "declined"
    assert not [m for m in client.from_user(room, bot.user_id) if "Willkommen" in str(m.body)]
