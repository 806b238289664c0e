"""The leadership report by e-mail (#12.6), against a local SMTP server (aiosmtpd): the HTML has
the page inline, the PDF and the CSV are attached; STARTTLS and TLS with the organisation's own
CA, login from a password file; a failed delivery is retried with back-off and reported once
in the admin room; refused recipients are tried again alone."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.config import Settings
from bot.context import BotContext
from bot.ids import EventID, RoomID, UserID
from bot.stats import delivery, mail
from bot.stats import report as stats_report
from bot.store.db import Database
from tests.smtp_sink import MailSink, make_certificate
from tests.support import FakeMatrix, make_context
from tests.unit.stats_fixture import PERIOD, fill, identifiers

LEAD = RoomID("!lead:example.org")
ADMIN_ROOM = RoomID("!admins:example.org")
ADMIN = UserID("@admin:example.org")
TO = ["leitung@example.org", "vorstand@example.org"]
LABEL = PERIOD.label


@pytest.fixture
def sink() -> Iterator[MailSink]:
    server = MailSink().start()
    try:
        yield server
    finally:
        server.stop()


async def context(
    tmp_path: Path, sink: MailSink, **mail_settings: Any
) -> tuple[BotContext, FakeMatrix, Database]:
    settings = {
        "host": "127.0.0.1",
        "port": sink.port,
        "security": "none",
        "from": "lotse@example.org",
        "to": TO,
        "timeout_seconds": 5,
    } | mail_settings
    return await make_context(
        tmp_path,
        admins=[ADMIN],
        rooms={"leadership": LEAD, "admin": ADMIN_ROOM},
        stats={"k": 3},
        report_mail=settings,
    )


@pytest.fixture
async def env(tmp_path: Path, sink: MailSink) -> AsyncIterator[tuple[BotContext, FakeMatrix, Database]]:
    ctx, matrix, db = await context(tmp_path, sink)
    await fill(ctx)
    ctx.clock = lambda: 1_795_500_000.0  # after W47 (Monday 23 November 2026, evening)
    try:
        yield ctx, matrix, db
    finally:
        await ctx.scheduler.stop()
        await db.close()


def parts(message: EmailMessage) -> dict[str, Any]:
    """The parts a mail program shows: text, HTML, the inline picture, the attachments."""
    found: dict[str, Any] = {"attachments": {}}
    for part in message.walk():
        kind = part.get_content_type()
        if part.get_content_disposition() == "attachment":
            found["attachments"][part.get_filename()] = (kind, part.get_content())
        elif kind == "text/plain":
            found["text"] = part.get_content()
        elif kind == "text/html":
            found["html"] = part.get_content()
        elif kind == "image/png":
            found["png"] = (part["Content-ID"], part.get_content(), part.get_content_disposition())
    return found


def admin_texts(matrix: FakeMatrix) -> list[str]:
    return matrix.texts_to(ADMIN_ROOM)


async def test_the_report_arrives_as_html_with_the_page_and_attachments(
    env: tuple[BotContext, FakeMatrix, Database], sink: MailSink
) -> None:
    ctx, matrix, _ = env
    await mail.add(ctx, LABEL)
    await mail.run_due(ctx)
    [received] = sink.received
    assert received.sender == "lotse@example.org" and received.recipients == TO
    message = received.message
    assert message["Subject"] == "Lotse-Bericht für KW 47 (16.–22.11.)"
    assert message["To"] == ", ".join(TO) and message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/mixed"
    got = parts(message)
    cid, png, disposition = got["png"]
    assert png.startswith(b"\x89PNG") and disposition == "inline"
    assert f'src="cid:{cid.strip("<>")}"' in got["html"]  # the page inline, not an attachment
    report = await stats_report.build(ctx, PERIOD)
    assert got["text"].replace("\r\n", "\n").strip() == stats_report.render_text(ctx, report, "de").strip()
    headline = stats_report.headline(ctx, report, "de")
    assert headline.replace("\u202f", " ") in got["html"].replace("\u202f", " ")
    kind, pdf = got["attachments"][f"lotse-{LABEL}.pdf"]
    assert kind == "application/pdf" and pdf.startswith(b"%PDF-")
    kind, sheet = got["attachments"][f"lotse-{LABEL}.csv"]
    assert kind == "text/csv"
    text = sheet if isinstance(sheet, str) else sheet.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert rows[0][:2] == ["Zeitraum", "Bereich"]
    # The picture's figures are the report's.
    from PIL import Image

    assert json.loads(Image.open(io.BytesIO(png)).info["Lotse-Report"])["figures"]["messages_clients"] == 16
    assert await mail.pending(ctx) == []
    assert admin_texts(matrix) == []


async def test_no_identifier_in_the_mail(tmp_path: Path, sink: MailSink) -> None:
    ctx, _, db = await context(tmp_path, sink)
    try:
        filled = await fill(ctx)
        ctx.clock = lambda: 1_795_500_000.0
        await mail.add(ctx, LABEL)
        await mail.run_due(ctx)
        message = sink.received[0].message
        everything = message.as_bytes().decode("latin-1")
        for part in message.walk():
            if not part.is_multipart():
                everything += (part.get_payload(decode=True) or b"").decode("latin-1")
        secrets = identifiers(ctx, filled, [p.label for p in PERIOD.trend(12)])
        assert not [s for s in secrets if s in everything]
    finally:
        await db.close()


async def test_a_failed_delivery_is_retried_and_reported_once(
    env: tuple[BotContext, FakeMatrix, Database], sink: MailSink
) -> None:
    ctx, matrix, _ = env
    start = ctx.clock()
    sink.refuse_data = True
    await mail.add(ctx, LABEL)
    await mail.run_due(ctx)
    [entry] = await mail.pending(ctx)
    assert entry.attempts == 1 and entry.told
    assert entry.next_ms == int(start * 1000) + 5 * 60_000  # retry_minutes
    [told] = admin_texts(matrix)
    assert "KW 47 (16.–22.11.)" in told and "451" in told and "5 min" in told
    # Not due yet: nothing happens.
    await mail.run_due(ctx)
    assert (await mail.pending(ctx))[0].attempts == 1
    # Five minutes later, it fails again: back-off doubles, the admin room hears nothing new.
    ctx.clock = lambda: start + 5 * 60
    await mail.run_due(ctx)
    [entry] = await mail.pending(ctx)
    assert entry.attempts == 2 and entry.next_ms == int((start + 5 * 60) * 1000) + 10 * 60_000
    assert len(admin_texts(matrix)) == 1
    # The server is back: it goes out, once, and the admin room is told.
    sink.refuse_data = False
    ctx.clock = lambda: start + 15 * 60
    await mail.run_due(ctx)
    await mail.run_due(ctx)
    assert len(sink.received) == 1 and sink.received[0].recipients == TO
    assert await mail.pending(ctx) == []
    assert len(admin_texts(matrix)) == 2 and "Versuch 3" in admin_texts(matrix)[1]


async def test_a_server_that_is_down(tmp_path: Path, sink: MailSink) -> None:
    port = sink.port
    sink.stop()
    ctx, matrix, db = await context(tmp_path, sink, port=port)
    try:
        await fill(ctx)
        ctx.clock = lambda: 1_795_500_000.0
        await mail.add(ctx, LABEL)
        await mail.run_due(ctx)
        [entry] = await mail.pending(ctx)
        assert entry.attempts == 1
        [told] = admin_texts(matrix)
        assert "ConnectionRefusedError" in told
    finally:
        await db.close()


async def test_refused_recipients_are_tried_again_alone(
    env: tuple[BotContext, FakeMatrix, Database], sink: MailSink
) -> None:
    ctx, matrix, _ = env
    sink.refuse_recipients = {TO[1]}
    await mail.add(ctx, LABEL)
    await mail.run_due(ctx)
    assert [r.recipients for r in sink.received] == [[TO[0]]]
    [entry] = await mail.pending(ctx)
    assert entry.to == [TO[1]]
    assert "550" in admin_texts(matrix)[0]
    sink.refuse_recipients = set()
    ctx.clock = lambda: 1_795_500_000.0 + 600
    await mail.run_due(ctx)
    assert [r.recipients for r in sink.received] == [[TO[0]], [TO[1]]]
    assert sink.received[1].message["To"] == TO[1]


async def test_it_gives_up_after_six_days(
    env: tuple[BotContext, FakeMatrix, Database], sink: MailSink
) -> None:
    ctx, matrix, _ = env
    start = ctx.clock()
    sink.refuse_data = True
    await mail.add(ctx, LABEL)
    for hours in range(0, 24 * 7, 6):
        ctx.clock = lambda h=hours: start + h * 3600  # type: ignore[misc]
        await mail.run_due(ctx)
    assert await mail.pending(ctx) == []
    texts = admin_texts(matrix)
    assert len(texts) == 2 and "gibt ihn auf" in texts[1] and f"!statistik {LABEL}" in texts[1]
    assert sink.received == []


def test_back_off_is_capped_at_six_hours(tmp_path: Path) -> None:
    settings = Settings(
        homeserver={"url": "http://127.0.0.1:1"},
        bot={"user_id": "@lotse:example.org", "password": "x"},
        report_mail={"host": "mail.example.org", "from": "lotse@example.org", "to": TO},
    ).report_mail
    assert settings is not None
    assert [mail.delay_minutes(settings, n) for n in (1, 2, 3, 7, 8, 20)] == [5, 10, 20, 320, 360, 360]
    assert settings.effective_port == 587 and settings.security == "starttls"


async def test_starttls_with_the_organisations_ca_and_a_password_file(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret\n")
    server = MailSink().start(starttls=(cert, key), password=("lotse", "s3cret"))
    ctx, matrix, db = await context(
        tmp_path,
        server,
        security="starttls",
        ca_file=str(cert),
        username="lotse",
        password_file=str(secret),
    )
    try:
        await fill(ctx)
        ctx.clock = lambda: 1_795_500_000.0
        await mail.add(ctx, LABEL)
        await mail.run_due(ctx)
        assert server.logins == [("lotse", "s3cret")]
        assert len(server.received) == 1 and admin_texts(matrix) == []
    finally:
        server.stop()
        await db.close()


async def test_tls_from_the_start(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    server = MailSink().start(tls=(cert, key))
    ctx, _, db = await context(tmp_path, server, security="tls", ca_file=str(cert))
    try:
        await fill(ctx)
        ctx.clock = lambda: 1_795_500_000.0
        await mail.add(ctx, LABEL)
        await mail.run_due(ctx)
        assert len(server.received) == 1
    finally:
        server.stop()
        await db.close()


async def test_an_untrusted_certificate_is_a_failure(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    server = MailSink().start(starttls=(cert, key))
    ctx, matrix, db = await context(tmp_path, server, security="starttls")  # no ca_file
    try:
        await fill(ctx)
        ctx.clock = lambda: 1_795_500_000.0
        await mail.add(ctx, LABEL)
        await mail.run_due(ctx)
        assert server.received == []
        assert "CERTIFICATE_VERIFY_FAILED" in admin_texts(matrix)[0]
    finally:
        server.stop()
        await db.close()


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"host": "mail.example.org", "security": "none"}, "only for a mail server on this machine"),
        ({"username": "lotse"}, "username and password_file go together"),
        ({"to": ["leitung@example.org\r\nBcc: x@example.org"]}, "is not an e-mail address"),
        ({"to": []}, "at least 1"),
        ({"from": "lotse"}, "is not an e-mail address"),
        ({"password_file": "/nonexistent/secret", "username": "x"}, "cannot read secret file"),
    ],
)
def test_mail_settings_are_checked(changes: dict[str, Any], problem: str) -> None:
    section = {"host": "127.0.0.1", "security": "none", "from": "lotse@example.org", "to": TO} | changes
    with pytest.raises(ValidationError) as err:
        Settings(
            homeserver={"url": "http://127.0.0.1:1"},
            bot={"user_id": "@lotse:example.org", "password": "x"},
            report_mail=section,
        )
    assert problem in str(err.value)


async def test_delivery_queues_the_mail_and_sends_it_in_the_background(
    env: tuple[BotContext, FakeMatrix, Database], sink: MailSink
) -> None:
    ctx, matrix, _ = env
    assert await delivery.deliver(ctx, PERIOD, "test")
    assert len(matrix.sent) == 4  # the leadership room as before
    for _ in range(200):
        if sink.received:
            break
        await asyncio.sleep(0.05)
    assert len(sink.received) == 1
    for _ in range(50):
        if not await mail.pending(ctx):
            break
        await asyncio.sleep(0.05)
    assert await mail.pending(ctx) == []


async def test_mail_alone_without_a_leadership_room(tmp_path: Path, sink: MailSink) -> None:
    from bot.commands.dispatch import handle_message
    from bot.commands.registry import COMMANDS

    settings = {
        "host": "127.0.0.1",
        "port": sink.port,
        "security": "none",
        "from": "lotse@example.org",
        "to": TO,
    }
    ctx, matrix, db = await make_context(
        tmp_path, admins=[ADMIN], rooms={"admin": ADMIN_ROOM}, stats={"k": 3}, report_mail=settings
    )
    try:
        await fill(ctx)
        reply = await handle_message(
            ctx,
            COMMANDS,
            sender=ADMIN,
            room_id=ADMIN_ROOM,
            room_kind="admin",
            body=f"!statistik {LABEL}",
            event_id=EventID("$cmd"),
        )
        assert reply is not None
        # At once: the report is being made; when it is (and queued for e-mail), a reply says so.
        assert reply.text == ctx.catalog.text("de", "stats.preparing", period=LABEL)
        for _ in range(200):
            if sink.received and matrix.sent:
                break
            await asyncio.sleep(0.05)
        assert len(sink.received) == 1
        assert [(s.room_id, s.body) for s in matrix.sent] == [
            (ADMIN_ROOM, ctx.catalog.text("de", "stats.mailed", period=LABEL, n="2"))
        ]
    finally:
        await ctx.scheduler.stop()
        await db.close()


async def test_the_mail_speaks_the_configured_language(tmp_path: Path, sink: MailSink) -> None:
    ctx, _, db = await context(tmp_path, sink, language="en")
    try:
        await fill(ctx)
        ctx.clock = lambda: 1_795_500_000.0
        await mail.add(ctx, LABEL)
        await mail.run_due(ctx)
        message = sink.received[0].message
        assert message["Subject"] == "Lotse report for week 47 (16–22 Nov)"
        assert "Period;Scope;" in parts(message)["attachments"][f"lotse-{LABEL}.csv"][1]
    finally:
        await db.close()
