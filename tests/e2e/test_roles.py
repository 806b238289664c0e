"""Roles from room membership: only an invite-only room's local members become workers."""

from __future__ import annotations

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
