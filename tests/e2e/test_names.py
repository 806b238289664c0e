"""People and rooms by name (#11.2), consultation rooms a worker can find (#11.4) and help for
people who are not fluent with technology (#11.8), end to end on a real Synapse: ``!neu`` by
display name and by bare local name (asked back when two match), admin commands by case number
answered without room IDs, the counselling room's state read back from the server, and
``!hilfe`` with the three things most used in the room first."""

from __future__ import annotations

import re
from typing import Any

import pytest
from nio import RoomGetStateResponse

from bot.i18n import Catalog
from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.personas import Persona
from tests.e2e.test_stats import say

pytestmark = pytest.mark.e2e
CAT = Catalog("de")
ROOM_ID = re.compile(r"![A-Za-z0-9_\-]{10,}")


def local(p: Persona) -> str:
    return p.user_id.split(":", 1)[0][1:]


async def room_state(p: Persona, room: str) -> dict[tuple[str, str], dict[str, Any]]:
    resp = await p.client.room_get_state(room)
    assert isinstance(resp, RoomGetStateResponse), resp
    return {(e["type"], e.get("state_key", "")): e for e in resp.events}


async def consent(client: Persona, bot: str) -> str:
    """The client accepts the intake chat and says yes; returns the intake room."""
    room = await client.accept_invite_from(bot)
    await client.wait_for_text(room, bot, "1. Deutsch")
    await client.send(room, "1")
    await client.wait_for_text(room, bot, "Bist du 16 Jahre oder älter?")
    await client.send(room, "ja")
    await client.wait_for_text(room, bot, "Bist du damit einverstanden?")
    await client.send(room, "ja")
    return room


async def test_people_and_rooms_by_name_and_the_counselling_room_a_worker_finds(
    bot: BotHarness, persona: PersonaFactory
) -> None:
    worker, admin = await persona("worker"), await persona("admin")
    mia, mira, kai = await persona("client"), await persona("client"), await persona("client")
    await mia.client.set_displayname("Mia Sommer")
    await mira.client.set_displayname("Mia Winter")
    team = await worker.create_room(invite=[bot.user_id], name="Team")
    admin_room = await admin.create_room(invite=[bot.user_id], name="Lotse Admin")
    bot.workers, bot.admins = [worker.user_id], [admin.user_id]
    bot.rooms = {"team": team, "admin": admin_room}
    bot.extra = {"retention": {"sweep_minutes": 1000}}
    await bot.start()
    await worker.wait_for_member(team, bot.user_id, "join")
    await admin.wait_for_member(admin_room, bot.user_id, "join")
    b = bot.user_id

    # Help first: the three things most used in the team room, each with an example.
    lines = (await say(worker, team, b, "!hilfe")).splitlines()
    assert lines[:2] == [CAT.text("de", "help.header"), CAT.text("de", "help.top")]
    assert [line.split()[1] for line in lines[2:8:2]] == ["!übernehmen", "!fälle", "!neu"]
    assert [line.strip() for line in lines[3:9:2]] == [
        "z. B.: !übernehmen 12",
        "z. B.: !fälle",
        "z. B.: !neu kim Wohnungssuche",
    ]
    assert lines[8] == CAT.text("de", "help.more")
    detail = (await say(worker, team, b, "!hilfe neu")).splitlines()
    assert detail == [
        "!neu <Person> [Kurzname]",
        CAT.text("de", "cmd.new_intake.help"),
        "z. B.: !neu kim Wohnungssuche",
    ]
    await say(worker, team, b, "!bestätigen")

    # Two clients called Mia: asked back, with the IDs that tell them apart; nobody invited.
    ambiguous = await say(worker, team, b, "!neu Mia")
    assert CAT.text("de", "person.ambiguous").split("{")[0] in ambiguous
    assert mia.user_id in ambiguous and mira.user_id in ambiguous and "Mia Sommer" in ambiguous
    # By the name Element shows, with a short label for the case.
    created = await say(worker, team, b, "!neu Mia Sommer Wohnungssuche")
    number = re.search(r"Anfrage #(\d+)", created).group(1)  # type: ignore[union-attr]
    assert "Mia Sommer" in created and f"Fall {number} · Wohnungssuche" in created
    # By the bare local name.
    second = await say(worker, team, b, f"!neu {local(kai)}")
    assert kai.user_id in second and "Anfrage #" in second
    assert "1. Deutsch" in (await kai.wait_for_text(await kai.accept_invite_from(b), b, "1. Deutsch")).body

    intake_room = await consent(mia, b)
    consultation = await worker.accept_invite_from(b, exclude={team})
    assert await mia.accept_invite_from(b, exclude={intake_room}) == consultation

    # The counselling room as the server has it: encrypted, invited people only, history from
    # joining on, no guests, not in the directory, the bot administers, the worker moderates.
    state = await room_state(worker, consultation)
    assert state[("m.room.encryption", "")]["content"]["algorithm"] == "m.megolm.v1.aes-sha2"
    assert state[("m.room.join_rules", "")]["content"]["join_rule"] == "invite"
    assert state[("m.room.history_visibility", "")]["content"]["history_visibility"] == "joined"
    assert state[("m.room.guest_access", "")]["content"]["guest_access"] == "forbidden"
    assert state[("m.room.name", "")]["content"]["name"] == f"Fall {number} · Wohnungssuche"
    assert state[("m.room.create", "")]["sender"] == b
    power = state[("m.room.power_levels", "")]["content"]
    version = state[("m.room.create", "")]["content"].get("room_version", "1")
    if version.isdigit() and int(version) >= 12:
        assert b not in power["users"]  # the creator's power is implicit (and unlimited)
    else:
        assert power["users"][b] == 100
    assert power["users"][worker.user_id] == 50
    assert mia.user_id not in power["users"]
    assert (power["state_default"], power["invite"], power["ban"]) == (100, 100, 100)
    assert (power["kick"], power["redact"]) == (50, 50)
    visibility = await worker.client.room_get_visibility(consultation)
    assert getattr(visibility, "visibility", None) == "private", visibility

    # The worker renames the case; the room follows.
    renamed = await say(worker, team, b, f"!fallname {number} Schulden")
    assert f"„Fall {number} · Schulden“" in renamed
    await worker.wait_for(
        lambda: worker.client.rooms[consultation].name == f"Fall {number} · Schulden", what="the new name"
    )

    # The admin names the room by its case number; the answers show the case, never a room ID.
    policy = await say(admin, admin_room, b, f"!raumregel #{number}")
    assert policy.startswith(f"Fall #{number}: ") and not ROOM_ID.search(policy), policy
    held = await say(admin, admin_room, b, f"!aufbewahren Fall {number} 2099-12-31")
    assert f"Fall #{number}" in held and "2099-12-31" in held and not ROOM_ID.search(held), held
    by_name = await say(admin, admin_room, b, "!raumregel Lotse Admin")
    assert by_name.startswith("„Lotse Admin“: ") and not ROOM_ID.search(by_name), by_name
    dry = await say(admin, admin_room, b, "!probelauf")
    assert not ROOM_ID.search(dry), dry
    unknown = await say(admin, admin_room, b, "!raumregel Küche")
    assert "Fallnummer" in unknown and "z. B. #3" in unknown
