"""Office hours and absences end to end: a client who writes when no one is in gets one
answer (not one per message) with when, who stands in, and whom to call; the substitute is
brought into the counselling room. Real Synapse, encrypted rooms."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.test_stats import intake, say

pytestmark = pytest.mark.e2e

DAYS = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")


async def test_after_hours_and_absence(bot: BotHarness, persona: PersonaFactory) -> None:
    worker, colleague, client = await persona("worker"), await persona("worker"), await persona("client")
    await colleague.client.set_displayname("Kim Wolf")
    team = await worker.create_room(invite=[bot.user_id, colleague.user_id], name="Team")
    await colleague.join(team)
    bot.workers = [worker.user_id, colleague.user_id]
    bot.rooms = {"team": team}
    bot.extra = {"retention": {"sweep_minutes": 1000}}
    await bot.start()
    room = await intake(bot.user_id, worker, client, team)

    # Office hours on a day two days from now only: closed now, whenever the test runs.
    today = dt.datetime.now(ZoneInfo("Europe/Berlin")).date()
    day = DAYS[(today.weekday() + 2) % 7]
    reply = await say(worker, team, bot.user_id, f"!sprechzeiten {day} 9-12")
    assert "Gespeichert" in reply

    for text in ("Hallo, ich brauche Hilfe", "Ist jemand da?"):
        await client.send(room, text)
    answer = await client.wait_for_text(room, bot.user_id, "Gerade ist niemand im Dienst")
    assert "ab 9:00 Uhr" in answer.body and "112" in answer.body
    await asyncio.sleep(3)  # a second answer would have arrived by now
    await client.sync()
    assert len([m for m in client.from_user(room, bot.user_id) if "niemand im Dienst" in m.body]) == 1

    # Away with a substitute named as Element shows her.
    reply = await say(worker, team, bot.user_id, "!abwesend bis morgen vertretung kim wolf")
    assert "Vertretung: Kim Wolf" in reply
    await client.send(room, "Hallo?")
    answer = await client.wait_for_text(room, bot.user_id, "Kim Wolf vertritt sie")
    assert "nicht da" in answer.body
    joined = await colleague.accept_invite_from(bot.user_id, exclude={team})
    assert joined == room
    await worker.wait_for_member(room, colleague.user_id, "join")
