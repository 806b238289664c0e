"""The bot's room keys reach every member, also one who joined while the bot was sharing them.

matrix-nio marks a room's session shared when a share ends, even if someone joined during it,
and a join seen during the share does not rotate the session (bot/matrix/keyshare.py). The
race itself is a matter of milliseconds; this test sets up what it leaves behind (the session
marked shared, without the new member's device) and checks that the member can read the bot's
next answer."""

from __future__ import annotations

import asyncio
import time

import pytest
from nio import RoomInviteResponse

from tests.e2e.conftest import BotHarness, PersonaFactory

pytestmark = pytest.mark.e2e


async def test_a_member_who_joined_during_a_key_share_reads_the_bots_next_answer(
    bot: BotHarness, persona: PersonaFactory
) -> None:
    admin, member = await persona("admin"), await persona("worker")
    bot.admins = [admin.user_id]
    instance = await bot.start()
    assert instance.gateway is not None
    client = instance.gateway.client
    assert client.olm is not None

    room = await admin.create_room(invite=[bot.user_id], name="Gruppe")
    await admin.wait_for_member(room, bot.user_id, "join")
    first = await admin.send(room, "!hilfe")
    await admin.wait_for(
        lambda: any(m.in_reply_to == first for m in admin.from_user(room, bot.user_id)),
        30,
        "the first answer",
    )
    session = client.olm.outbound_group_sessions[room]  # shared with the admin's device
    assert session.shared

    assert isinstance(await admin.client.room_invite(room, member.user_id), RoomInviteResponse)
    await member.join(room)
    # The bot sees the join (nio drops the room's session then) and fetches the member's devices.
    deadline = time.monotonic() + 30
    while not (
        member.user_id in client.rooms[room].users
        and list(client.olm.device_store.active_user_devices(member.user_id))
    ):
        assert time.monotonic() < deadline, "the bot did not see the member's join and devices"
        await asyncio.sleep(0.1)
    # What a join during a share leaves behind: the old session, marked shared, not theirs.
    client.olm.outbound_group_sessions[room] = session
    assert all(user != member.user_id for user, _ in session.users_shared_with)

    await member.wait_for_member(room, bot.user_id, "join")
    asked = await member.send(room, "!hilfe")
    answer = await member.wait_for(
        lambda: next((m for m in member.from_user(room, bot.user_id) if m.in_reply_to == asked), None),
        30,
        "the bot's answer, readable",
    )
    assert answer.encrypted and answer.body  # sent encrypted, and read
    # The same session, now theirs too: no new session for everyone.
    assert client.olm.outbound_group_sessions[room] is session
    assert any(user == member.user_id for user, _ in session.users_shared_with)
