"""Roles from room membership: only an invite-only room's local members become workers."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.conftest import BotHarness, PersonaFactory

pytestmark = pytest.mark.e2e


async def test_membership_grants_a_role_only_in_an_invite_only_room(
    bot: BotHarness, persona: PersonaFactory
) -> None:
    lead, member, walk_in = await persona("lead"), await persona("worker"), await persona("walkin")
    staff = await lead.create_room(invite=[bot.user_id, member.user_id], name="Mitarbeitende")
    lobby = await lead.create_room(invite=[bot.user_id], name="Offen")
    # Anyone on the server may join the lobby: membership there must prove nothing.
    await lead.client.room_put_state(lobby, "m.room.join_rules", {"join_rule": "public"})
    bot.worker_rooms = [staff, lobby]
    bot.rooms = {"team": staff}
    await bot.start()
    await member.join(staff)
    await walk_in.join(lobby)
    await lead.wait_for_member(staff, bot.user_id, "join")

    dm = await member.create_room(invite=[bot.user_id], direct=True)
    await member.wait_for(lambda: member.from_user(dm, bot.user_id), 30, "the bot's greeting")
    await member.send(dm, "hilfe")
    helped = await member.wait_for(
        lambda: [m for m in member.from_user(dm, bot.user_id) if "übernehmen" in m.body], 30, "worker help"
    )
    assert helped

    # The walk-in writes to the bot: treated as a client (an intake starts), not as staff.
    their_dm = await walk_in.create_room(invite=[bot.user_id], direct=True)
    await walk_in.wait_for_text(their_dm, bot.user_id, "1. Deutsch")


async def test_a_worker_who_leaves_the_team_no_longer_moderates_their_rooms(
    bot: BotHarness, persona: PersonaFactory
) -> None:
    lead, worker, client = await persona("lead"), await persona("worker"), await persona("client")
    staff = await lead.create_room(invite=[bot.user_id, worker.user_id], name="Team")
    bot.worker_rooms = [staff]
    bot.rooms = {"team": staff}
    await bot.start()
    await worker.join(staff)
    await lead.wait_for_member(staff, bot.user_id, "join")

    room = await client.create_room(invite=[bot.user_id], direct=True)
    await client.wait_for_text(room, bot.user_id, "1. Deutsch")
    for answer, expect in (("1", "16 Jahre"), ("ja", "einverstanden?"), ("ja", "Fachkraft")):
        await client.send(room, answer)
        await client.wait_for_text(room, bot.user_id, expect)
    await worker.send(staff, "!bestätigen")
    await worker.wait_for_text(staff, bot.user_id, "Nutzungsregeln")
    await worker.send(staff, "!übernehmen 1")
    consultation = await worker.accept_invite_from(bot.user_id, exclude={staff})
    levels = await worker.client.room_get_state_event(consultation, "m.room.power_levels")
    assert levels.content["users"].get(worker.user_id) == 50

    await worker.client.room_leave(staff)
    await lead.wait_for_text(staff, bot.user_id, "Bitte übernehmt diese Fälle: #1")

    async def demoted() -> bool:
        # The worker is still a member of the counselling room (a handover removes them).
        state = await worker.client.room_get_state_event(consultation, "m.room.power_levels")
        return worker.user_id not in state.content["users"]

    for _ in range(100):
        if await demoted():
            break
        await asyncio.sleep(0.2)
    assert await demoted(), "the former worker still moderates the counselling room"
