"""Leadership statistics end to end: a scripted week in real rooms, then the report in the
leadership room (text, the page as m.image, the PDF, the CSV) and by e-mail, all agreeing with
the script and none naming a person or a room."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import shutil
import subprocess
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.i18n import Catalog
from bot.stats.aggregate import FIGURE_UNITS, FIGURES
from bot.stats.periods import period_containing
from tests.e2e.conftest import BotHarness, PersonaFactory
from tests.e2e.personas import Persona
from tests.smtp_sink import MailSink

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


def number(text: str) -> float | None:
    """A CSV cell as a number (German decimal comma); None when empty or hidden."""
    if text in ("", CAT.text("de", "stats.too_few")):
        return None
    return float(text.replace(".", "").replace(",", "."))


def mail_parts(message: EmailMessage) -> dict[str, Any]:
    found: dict[str, Any] = {"attachments": {}}
    for part in message.walk():
        if part.get_content_disposition() == "attachment":
            found["attachments"][part.get_filename()] = part.get_payload(decode=True)
        elif part.get_content_type() == "text/html":
            found["html"] = part.get_content()
        elif part.get_content_type() == "image/png":
            found["png"] = (part["Content-ID"].strip("<>"), part.get_payload(decode=True))
    return found


def pdf_text(pdf: bytes, tmp: Path) -> str:
    """The PDF's words (pdftotext, where poppler is installed), else its raw bytes."""
    if shutil.which("pdftotext") is None:
        return pdf.decode("latin-1")
    path = tmp / "report.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode() + pdf.decode("latin-1")


async def test_weekly_report_reaches_leadership_with_page_pdf_csv_and_mail(
    bot: BotHarness, persona: PersonaFactory, tmp_path: Path
) -> None:
    sink = MailSink().start()
    try:
        await weekly_report(bot, persona, sink, tmp_path)
    finally:
        sink.stop()


async def weekly_report(bot: BotHarness, persona: PersonaFactory, sink: MailSink, tmp_path: Path) -> None:
    workers = [await persona("worker") for _ in range(3)]
    clients = [await persona("client") for _ in range(3)]
    admin, lead = await persona("admin"), await persona("lead")
    # Names that must not leave the bot in any rendering.
    secret_names = [
        "Anna Vertraulich-Sozial",
        "Kim Geheim-Klientin",
        "Teamraum Nordlicht",
        "Adminraum Kompass",
    ]
    await workers[0].client.set_displayname(secret_names[0])
    await clients[0].client.set_displayname(secret_names[1])
    team = await workers[0].create_room(
        invite=[bot.user_id, *(w.user_id for w in workers[1:])], name=secret_names[2]
    )
    for w in workers[1:]:
        await w.join(team)
    admin_room = await admin.create_room(invite=[bot.user_id], name=secret_names[3])
    leadership = await lead.create_room(invite=[bot.user_id], name="Leitungsraum Leuchtturm")
    secret_names.append("Leitungsraum Leuchtturm")
    bot.workers, bot.admins = [w.user_id for w in workers], [admin.user_id]
    bot.rooms = {"team": team, "admin": admin_room, "leadership": leadership}
    bot.extra = {
        "stats": {"k": 3},
        "retention": {"sweep_minutes": 1000},
        "report_mail": {
            "host": "127.0.0.1",
            "port": sink.port,
            "security": "none",
            "from": "lotse@example.org",
            "to": ["leitung@example.org"],
        },
    }
    await bot.start()
    await lead.wait_for_member(leadership, bot.user_id, "join")
    await admin.wait_for_member(admin_room, bot.user_id, "join")

    rooms = []
    for worker, client in zip(workers, clients, strict=True):
        room = await intake(bot.user_id, worker, client, team)
        rooms.append(room)
        for i in range(CLIENT_MESSAGES):
            await client.send(room, f"Frage {i}")
        await worker.wait_for(
            lambda r=room, w=worker, c=client: (
                len([m for m in w.messages if m.room_id == r and m.sender == c.user_id]) >= CLIENT_MESSAGES
            ),
            what="the client's messages",
        )
        await worker.send(room, "Antwort")

    today = dt.date.today()
    period = period_containing(today, "week")
    week = period.start.isocalendar()[1]
    # A running week has no report (its figures would still change): the bot's clock moves on
    # to the next week, as if this were Monday morning.
    assert bot.instance is not None
    assert "läuft noch" in await say(admin, admin_room, bot.user_id, f"!statistik {period.label}")
    assert bot.instance.ctx is not None
    # Everything recorded (the last answers too) before the week is frozen.
    await asyncio.sleep(2)
    bot.instance.ctx.clock = lambda: time.time() + 8 * 86_400
    await lead.sync()
    # The command answers at once (the report is made in the background, the bot keeps
    # answering) and again, as a reply to the command, once the report is posted.
    command = await admin.send(admin_room, f"!statistik {period.label}")
    replies = await admin.wait_for(
        lambda: (
            (r := [m for m in admin.from_user(admin_room, bot.user_id) if m.in_reply_to == command])
            and len(r) >= 2
            and r
        ),
        120,
        "both answers to !statistik",
    )
    assert "erstelle den Bericht" in str(replies[0].body)
    assert period.label in str(replies[1].body) and "E-Mail" in str(replies[1].body)
    text = await lead.wait_for_text(leadership, bot.user_id, f"Lotse-Bericht für KW {week} (")
    files = await lead.wait_for(
        lambda: (
            (
                f := [
                    m
                    for m in lead.from_user(leadership, bot.user_id)
                    if m.source["content"].get("msgtype") in ("m.file", "m.image")
                ]
            )
            and len(f) >= 3
            and f
        ),
        what="page, PDF and CSV",
    )
    by_ext = {m.source["content"]["body"].rsplit(".", 1)[1]: m for m in files}
    assert set(by_ext) == {"png", "pdf", "csv"}

    # The page: a picture in the timeline (m.image with its real size), phone-shaped.
    chart = by_ext["png"].source["content"]
    png = await lead.download(chart)
    assert png.startswith(b"\x89PNG")
    assert chart["msgtype"] == "m.image"
    assert (chart["info"]["w"], chart["info"]["h"]) == (
        int.from_bytes(png[16:20], "big"),
        int.from_bytes(png[20:24], "big"),
    )
    assert chart["info"]["w"] == 1080 and chart["info"]["h"] > 1600
    image_data = json.loads(Image.open(io.BytesIO(png)).info["Lotse-Report"])
    assert image_data["period"] == period.label

    # The PDF for the board: a file, application/pdf.
    board = by_ext["pdf"].source["content"]
    assert board["msgtype"] == "m.file" and board["info"]["mimetype"] == "application/pdf"
    pdf = await lead.download(board)
    assert pdf.startswith(b"%PDF-")

    sheet_bytes = await lead.download(by_ext["csv"].source["content"])
    sheet = sheet_bytes.decode()
    assert sheet.startswith("\ufeff")  # German Excel reads it as UTF-8, in columns
    rows = list(csv.DictReader(io.StringIO(sheet.removeprefix("\ufeff")), delimiter=";"))
    [row] = [r for r in rows if r["Zeitraum"] == period.label and r["Bereich"] == "Organisation"]
    names = {
        key: f"{CAT.text('de', f'stats.figure.{key}')} ({CAT.text('de', f'stats.unit.{unit}')})"
        for key, unit in FIGURE_UNITS.items()
    }
    now = {key: row[name] for key, name in names.items()}

    # The scripted week, the same in the CSV, the picture's data and the text.
    scripted = {
        "active_rooms": 3,
        "active_clients": 3,
        "new_clients": 3,
        "messages_clients": 3 * CLIENT_MESSAGES,
        "messages_workers": 3,
        "client_contacts": 3,
        "consent_asked": 3,
        "consent_given": 3,
        "answered_in_target": 100,
    }
    for key, expected in scripted.items():
        assert number(now[key]) == expected, key
        assert image_data["figures"][key] == expected, key
    lines = text.body.splitlines()
    for key in FIGURES:
        shown = image_data["figures"].get(key)
        value = number(now[key])
        if isinstance(shown, dict):  # hidden: the same everywhere
            assert now[key] == CAT.text("de", "stats.too_few"), key
            assert f"• {CAT.text('de', f'stats.figure.{key}')}: zu wenige Fälle" in lines, key
            continue
        assert (shown is None) == (value is None), key
        if value is not None:
            assert round(value, 1) == round(shown, 1), key
        if key in scripted:
            assert f"• {CAT.text('de', f'stats.figure.{key}')}: {scripted[key]}" in " ".join(lines), key
    assert lines[1].startswith(f"In KW {week} (") and "haben 3 Klient·innen über Lotse Kontakt" in lines[1]
    assert "100\u202f% ihrer Anliegen" in lines[1]

    # The same report by e-mail: HTML with the page inline, the PDF and the CSV attached.
    received = await lead.wait_for(lambda: sink.received, what="the report by e-mail")
    message = received[0].message
    assert received[0].recipients == ["leitung@example.org"]
    assert message["Subject"].startswith(f"Lotse-Bericht für KW {week} (")
    got = mail_parts(message)
    cid, mailed_png = got["png"]
    assert f'src="cid:{cid}"' in got["html"] and mailed_png.startswith(b"\x89PNG")
    assert (
        json.loads(Image.open(io.BytesIO(mailed_png)).info["Lotse-Report"])["figures"]
        == image_data["figures"]
    )
    assert got["attachments"][f"lotse-{period.label}.csv"] == sheet_bytes
    assert got["attachments"][f"lotse-{period.label}.pdf"].startswith(b"%PDF-")

    # Not one identifier of a person or room leaves the bot: no user ID, localpart, display
    # name, room ID or room name, in the text, the picture, the PDF, the CSV or the e-mail.
    raw_mail = message.as_bytes().decode("latin-1") + "".join(
        (part.get_payload(decode=True) or b"").decode("latin-1")
        for part in message.walk()
        if not part.is_multipart()
    )
    outputs = {
        "text": text.body,
        "png": png.decode("latin-1"),
        "pdf": pdf_text(pdf, tmp_path),
        "csv": sheet,
        "mail": raw_mail,
    }
    people = [*workers, *clients, admin, lead]
    secrets = [p.user_id for p in people] + [p.user_id.split(":")[0][1:] for p in people]
    secrets += [*secret_names, team, admin_room, leadership, *rooms]
    for name, output in outputs.items():
        leaked = [s for s in secrets if s in output]
        assert not leaked, (name, leaked)
    assert "!" not in "".join(str(r) for r in rows)
