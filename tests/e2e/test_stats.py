"""Leadership statistics end to end: a scripted week in real rooms, then the report."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time

import pytest

from bot.i18n import Catalog
from bot.stats.aggregate import FIGURE_UNITS
from bot.stats.periods import period_containing
from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.personas import Persona

CAT = Catalog("de")
pytestmark = pytest.mark.e2e

CLIENT_MESSAGES = 2


async def say(p: Persona, room: str, bot: str, text: str) -> str:
    event = await p.send(room, text)
    replies = await p.wait_for(
        lambda: [m for m in p.from_user(room, bot) if m.in_reply_to == event], 30, text
    )
    return str(replies[0].body)


async def intake(bot_id: str, worker: Persona, client: Persona, team: str) -> str:
    """A worker-started intake through to an open consultation room."""
    # Only once the worker's client has seen the bot join does it share room keys with the bot;
    # a command sent while the bot is still only invited could never be decrypted by it.
    await worker.wait_for_member(team, bot_id, "join")
    await say(worker, team, bot_id, "!bestätigen")
    await say(worker, team, bot_id, f"!neu {client.user_id}")
    room = await client.accept_invite_from(bot_id)
    await client.wait_for_text(room, bot_id, "1. Deutsch")
    await client.send(room, "1")
    await client.wait_for_text(room, bot_id, "Bist du 16 Jahre oder älter?")
    await client.send(room, "ja")
    await client.wait_for_text(room, bot_id, "Bist du damit einverstanden?")
    await client.send(room, "ja")
    consultation = await client.accept_invite_from(bot_id, exclude={room})
    await worker.accept_invite_from(bot_id, exclude={team})
    await client.wait_for_text(consultation, bot_id, "Willkommen in eurem Beratungsraum")
    return consultation


async def test_weekly_report_reaches_leadership_with_chart_and_csv(
    bot: BotHarness, persona: PersonaFactory
) -> None:
    workers = [await persona("worker") for _ in range(3)]
    clients = [await persona("client") for _ in range(3)]
    admin, lead = await persona("admin"), await persona("lead")
    team = await workers[0].create_room(invite=[bot.user_id, *(w.user_id for w in workers[1:])], name="Team")
    for w in workers[1:]:
        await w.join(team)
    admin_room = await admin.create_room(invite=[bot.user_id], name="Admin")
    leadership = await lead.create_room(invite=[bot.user_id], name="Leitung")
    bot.workers, bot.admins = [w.user_id for w in workers], [admin.user_id]
    bot.rooms = {"team": team, "admin": admin_room, "leadership": leadership}
    bot.extra = {"stats": {"k": 3}, "retention": {"sweep_minutes": 1000}}
    await bot.start()
    await lead.wait_for_member(leadership, bot.user_id, "join")
    await admin.wait_for_member(admin_room, bot.user_id, "join")

    for worker, client in zip(workers, clients, strict=True):
        room = await intake(bot.user_id, worker, client, team)
        for i in range(CLIENT_MESSAGES):
            await client.send(room, f"Frage {i}")
        await worker.wait_for(
            lambda r=room, w=worker, c=client: (
                len([m for m in w.messages if m.room_id == r and m.sender == c.user_id]) >= CLIENT_MESSAGES
            ),
            what="the client's messages",
        )
        await worker.send(room, "Antwort")

    period = period_containing(dt.date.today(), "week").label
    # A running week has no report (its figures would still change): the bot's clock moves on
    # to the next week, as if this were Monday morning.
    assert bot.instance is not None
    assert "läuft noch" in await say(admin, admin_room, bot.user_id, f"!statistik {period}")
    assert bot.instance.ctx is not None
    bot.instance.ctx.clock = lambda: time.time() + 8 * 86_400
    await lead.sync()
    reply = await say(admin, admin_room, bot.user_id, f"!statistik {period}")
    assert period in reply
    text = await lead.wait_for_text(leadership, bot.user_id, f"Woche {period}")
    files = await lead.wait_for(
        lambda: (
            (
                f := [
                    m
                    for m in lead.from_user(leadership, bot.user_id)
                    if m.source["content"].get("msgtype") in ("m.file", "m.image")
                ]
            )
            and len(f) >= 2
            and f
        ),
        what="chart and CSV",
    )
    by_ext = {m.source["content"]["body"].rsplit(".", 1)[1]: m for m in files}
    chart = by_ext["png"].source["content"]
    png = await lead.download(chart)
    assert png.startswith(b"\x89PNG")
    # A picture in the timeline, not a download: m.image with its real size.
    assert chart["msgtype"] == "m.image"
    assert (chart["info"]["w"], chart["info"]["h"]) == (
        int.from_bytes(png[16:20], "big"),
        int.from_bytes(png[20:24], "big"),
    )
    assert chart["info"]["w"] > 300 and chart["info"]["h"] > 300
    sheet = (await lead.download(by_ext["csv"].source["content"])).decode()
    assert sheet.startswith("\ufeff")  # German Excel reads it as UTF-8, in columns
    rows = list(csv.DictReader(io.StringIO(sheet.removeprefix("\ufeff")), delimiter=";"))
    [row] = [r for r in rows if r["Zeitraum"] == period and r["Bereich"] == "Organisation"]
    names = {
        key: f"{CAT.text('de', f'stats.figure.{key}')} ({CAT.text('de', f'stats.unit.{unit}')})"
        for key, unit in FIGURE_UNITS.items()
    }
    now = {key: row[name] for key, name in names.items()}
    assert now["active_rooms"] == "3"
    assert now["messages_clients"] == str(3 * CLIENT_MESSAGES)
    assert now["messages_workers"] == "3"
    assert now["consent_given"] == "3" and now["new_clients"] == "3"
    assert now["client_contacts"] == "3"
    assert "Aktive Beratungsräume: 3" in text.body
    # Not one identifier of a person or room leaves the bot.
    everything = text.body + png.decode("latin-1") + "".join(str(r) for r in rows)
    for p in [*workers, *clients, admin, lead]:
        assert p.user_id not in everything and p.user_id.split(":")[0][1:] not in everything
    assert "!" not in "".join(str(r) for r in rows)
