"""Handing a case over and closing it, end to end (real Synapse, encrypted rooms): the
colleague is invited and takes over when they join, the client is told, the previous worker
leaves and loses moderation; a closed case's room is read-only and gets the closed-case
retention policy."""

from __future__ import annotations

import pytest
from nio import RoomGetStateEventResponse, RoomSendResponse

from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.test_stats import intake, say

pytestmark = pytest.mark.e2e


async def test_handover_then_close(bot: BotHarness, persona: PersonaFactory) -> None:
    worker, colleague, client = await persona("worker"), await persona("worker"), await persona("client")
    await colleague.client.set_displayname("Kim Wolf")
    team = await worker.create_room(invite=[bot.user_id, colleague.user_id], name="Team")
    await colleague.join(team)
    bot.workers = [worker.user_id, colleague.user_id]
    bot.rooms = {"team": team}
    bot.extra = {"retention": {"sweep_minutes": 1000}}
    await bot.start()
    room = await intake(bot.user_id, worker, client, team)
    await colleague.wait_for_member(team, bot.user_id, "join")
    await say(colleague, team, bot.user_id, "!bestätigen")

    # The client cannot hand their case to anyone; the colleague cannot take what is not theirs.
    assert "jemand anderes" in await say(colleague, team, bot.user_id, "!übergabe 1 Kim Wolf")
    reply = await say(worker, room, bot.user_id, "!übergabe kim wolf")
    assert "Kim Wolf ist zu Fall #" in reply
    assert await colleague.accept_invite_from(bot.user_id, exclude={team}) == room
    told = await client.wait_for_text(room, bot.user_id, "Ab jetzt begleitet dich Kim Wolf")
    assert "Frühere Nachrichten" in told.body
    await client.wait_for_member(room, worker.user_id, "leave")
    await worker.wait_for_text(team, bot.user_id, "an Kim Wolf übergeben")
    power = await colleague.client.room_get_state_event(room, "m.room.power_levels")
    assert isinstance(power, RoomGetStateEventResponse)
    assert power.content["users"].get(colleague.user_id) == 50
    assert worker.user_id not in power.content["users"]
    assert "Deine Fälle (1)" in await say(colleague, team, bot.user_id, "!fälle")

    # Closing: the client is told, the room is read-only, the closed-case policy applies.
    await say(colleague, room, bot.user_id, "!abschluss")
    await client.wait_for_text(room, bot.user_id, "Deine Beratung hier ist abgeschlossen")
    power = await client.client.room_get_state_event(room, "m.room.power_levels")
    assert isinstance(power, RoomGetStateEventResponse) and power.content["events_default"] == 100
    refused = await client.client.room_send(
        room, "m.room.message", {"msgtype": "m.text", "body": "Hallo?"}, ignore_unverified_devices=True
    )
    assert not isinstance(refused, RoomSendResponse)
    assert bot.instance is not None and bot.instance.ctx is not None
    assert (await bot.instance.ctx.retention.assignments())[room] == "abgeschlossen"
    assert "keine offenen Fälle" in await say(colleague, team, bot.user_id, "!fälle")

    # The client writes to the bot again: they hear the team knows; the team is told once.
    case = await bot.instance.ctx.consent.intake_by_consultation(room)  # type: ignore[arg-type]
    assert case is not None
    await client.send(case.room_id, "Hallo, ich brauche nochmal Hilfe")
    await client.wait_for_text(case.room_id, bot.user_id, "Deine Beratung war abgeschlossen")
    await colleague.wait_for_text(team, bot.user_id, "hat sich im Chat mit Lotse wieder gemeldet")
