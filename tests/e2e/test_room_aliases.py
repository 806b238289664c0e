"""Configured room aliases: resolved again while the bot runs, and refused when someone other
than an admin created the room behind them (a squatter who took the alias first)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.e2e.conftest import BotHarness, PersonaFactory, unique
from tests.e2e.personas import Persona

pytestmark = pytest.mark.e2e

# Tried again every ~1 s instead of every 5 minutes.
RETRY_MINUTES = 0.02


async def put_alias(owner: Persona, room: str, alias: str) -> None:
    resp = await owner.client.room_put_alias(alias, room)
    assert not hasattr(resp, "status_code"), resp


async def help_for(person: Persona, room: str, bot_id: str) -> str:
    """What the bot answers to !hilfe in ``room`` (it lists what the sender may do there)."""
    asked = await person.send(room, "!hilfe")
    answer = await person.wait_for(
        lambda: next((m for m in person.from_user(room, bot_id) if m.in_reply_to == asked), None),
        30,
        "the bot's help",
    )
    return str(answer.body)


async def test_an_alias_set_up_after_the_start_is_used_without_a_restart(
    bot: BotHarness, persona: PersonaFactory
) -> None:
    admin, member = await persona("admin"), await persona("worker")
    alias = f"#{unique('team')}:{bot.server.server_name}"
    bot.admins = [admin.user_id]
    bot.worker_rooms = [alias]
    bot.rooms = {"team": alias, "alias_retry_minutes": RETRY_MINUTES}  # type: ignore[dict-item]
    await bot.start()  # the alias does not exist yet

    team = await admin.create_room(invite=[bot.user_id, member.user_id], name="Team")
    await put_alias(admin, team, alias)
    await member.join(team)
    await admin.wait_for_member(team, bot.user_id, "join")
    # The member's client shares its room key only with members it has seen join: a command
    # sent before it saw the bot could never be decrypted by the bot.
    await member.wait_for_member(team, bot.user_id, "join")

    # Once the alias resolves, the team room grants the worker role: !hilfe lists staff commands.
    deadline = time.monotonic() + 45
    while "übernehmen" not in await help_for(member, team, bot.user_id):
        assert time.monotonic() < deadline, "the room behind the alias was never used"
        await asyncio.sleep(1)


async def test_an_alias_taken_by_a_squatter_is_refused_and_the_admins_are_told(
    bot: BotHarness, persona: PersonaFactory
) -> None:
    admin, squatter = await persona("admin"), await persona("squatter")
    alias = f"#{unique('team')}:{bot.server.server_name}"
    admin_room = await admin.create_room(invite=[bot.user_id], name="Lotse Admin")
    # Before the organisation sets its team room up, someone else takes the alias.
    squat = await squatter.create_room(invite=[bot.user_id], name="Team")
    await put_alias(squatter, squat, alias)

    bot.admins = [admin.user_id]
    bot.worker_rooms = [alias]
    bot.rooms = {"admin": admin_room, "team": alias, "alias_retry_minutes": RETRY_MINUTES}  # type: ignore[dict-item]
    await bot.start()
    await admin.wait_for_member(admin_room, bot.user_id, "join")

    alert = await admin.wait_for_text(admin_room, bot.user_id, alias, timeout=45)
    assert "Alias" in alert.body and squat in alert.body
    # The bot does not join the squatter's room: it is no configured room, they are no staff.
    await squatter.wait_for_member(squat, bot.user_id, "leave")
    # And the squatter is a client like anyone else: writing to the bot starts an intake.
    dm = await squatter.create_room(invite=[bot.user_id], direct=True)
    await squatter.wait_for_text(dm, bot.user_id, "1. Deutsch")

    await asyncio.sleep(3)  # several more rounds of the background check
    await admin.sync()
    assert len([m for m in admin.from_user(admin_room, bot.user_id) if alias in m.body]) == 1
