"""bot/stats/delivery.py and the !statistik command: when the report is due, where it goes."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.commands.dispatch import handle_message
from bot.commands.registry import COMMANDS
from bot.context import BotContext
from bot.ids import EventID, RoomID, UserID
from bot.stats import delivery
from bot.stats.aggregate import FIGURES
from bot.stats.periods import parse_period, period_containing
from bot.store.db import Database
from tests.support import FakeMatrix, make_context
from tests.unit.stats_fixture import PERIOD, fill, identifiers

BERLIN = ZoneInfo("Europe/Berlin")
EIGHT = dt.time(8, 0)
LEAD = RoomID("!lead:example.org")
ADMIN_ROOM = RoomID("!admins:example.org")
ADMIN = UserID("@admin:example.org")
WORKER = UserID("@worker:example.org")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=BERLIN)


def label(p: object) -> str | None:
    return None if p is None else p.label  # type: ignore[attr-defined]


# --- due_period -----------------------------------------------------------------------------

MONDAY = (2026, 11, 23)  # Monday of 2026-W48


def test_before_monday_eight_the_week_before_last_is_due() -> None:
    assert label(delivery.due_period(local(*MONDAY, 7, 59), 0, EIGHT, None)) == "2026-W46"
    assert label(delivery.due_period(local(*MONDAY, 7, 59), 0, EIGHT, "2026-W45")) == "2026-W46"
    assert delivery.due_period(local(*MONDAY, 7, 59), 0, EIGHT, "2026-W46") is None
    # Sunday night still belongs to the week whose report went out last Monday.
    assert label(delivery.due_period(local(2026, 11, 22, 23, 59), 0, EIGHT, None)) == "2026-W46"


def test_from_monday_eight_last_week_is_due() -> None:
    assert label(delivery.due_period(local(*MONDAY, 8, 0), 0, EIGHT, None)) == "2026-W47"
    assert label(delivery.due_period(local(*MONDAY, 8, 0), 0, EIGHT, "2026-W46")) == "2026-W47"
    assert label(delivery.due_period(local(2026, 11, 26, 15), 0, EIGHT, "2026-W46")) == "2026-W47"
    assert label(delivery.due_period(local(2026, 11, 29, 23, 59), 0, EIGHT, None)) == "2026-W47"


def test_already_delivered_is_not_due() -> None:
    for now in (local(*MONDAY, 8), local(*MONDAY, 12), local(2026, 11, 27, 9), local(2026, 11, 30, 7, 59)):
        assert delivery.due_period(now, 0, EIGHT, "2026-W47") is None, now


def test_after_downtime_only_the_latest_week_is_due_once() -> None:
    # The bot was down from week 40 to the middle of week 48.
    now = local(2026, 11, 25, 10)
    assert label(delivery.due_period(now, 0, EIGHT, "2026-W40")) == "2026-W47"
    # Once it went out, nothing is caught up: not W41 … W46, not W47 again.
    assert delivery.due_period(now, 0, EIGHT, "2026-W47") is None
    assert delivery.due_period(local(2026, 11, 30, 7), 0, EIGHT, "2026-W47") is None
    assert label(delivery.due_period(local(2026, 11, 30, 8), 0, EIGHT, "2026-W47")) == "2026-W48"


def test_other_weekday_and_time() -> None:
    wednesday = 2
    two_pm = dt.time(14, 0)
    assert label(delivery.due_period(local(2026, 11, 25, 13, 59), wednesday, two_pm, None)) == "2026-W46"
    assert label(delivery.due_period(local(2026, 11, 25, 14, 0), wednesday, two_pm, None)) == "2026-W47"
    assert label(delivery.due_period(local(*MONDAY, 12), wednesday, two_pm, None)) == "2026-W46"


def test_year_end_and_dst() -> None:
    assert label(delivery.due_period(local(2027, 1, 4, 9), 0, EIGHT, None)) == "2026-W53"
    assert label(delivery.due_period(local(2027, 1, 4, 7), 0, EIGHT, None)) == "2026-W52"
    assert label(delivery.due_period(local(2026, 3, 30, 8), 0, EIGHT, None)) == "2026-W13"
    assert label(delivery.due_period(local(2026, 10, 26, 8), 0, EIGHT, None)) == "2026-W43"


# --- deliver --------------------------------------------------------------------------------


@pytest.fixture
async def lead(tmp_path: Path) -> AsyncIterator[tuple[BotContext, FakeMatrix, Database]]:
    ctx, matrix, db = await make_context(
        tmp_path,
        admins=[ADMIN],
        workers=[WORKER],
        rooms={"leadership": LEAD, "admin": ADMIN_ROOM},
        stats={"k": 3},
    )
    try:
        yield ctx, matrix, db
    finally:
        await db.close()


async def test_deliver_sends_text_png_and_csv(lead: tuple[BotContext, FakeMatrix, Database]) -> None:
    ctx, matrix, _ = lead
    filled = await fill(ctx)
    assert await delivery.deliver(ctx, PERIOD, "test")
    assert [s.room_id for s in matrix.sent] == [LEAD, LEAD, LEAD, LEAD]
    text, png, pdf, table = matrix.sent
    assert text.filename is None
    assert text.body.splitlines()[0] == "📊 Lotse-Bericht für KW 47 (16.–22.11.)"
    assert png.filename == "lotse-2026-W47.png" and png.data is not None and png.data.startswith(PNG_MAGIC)
    assert pdf.filename == "lotse-2026-W47.pdf" and pdf.data is not None and pdf.data.startswith(b"%PDF-")
    assert table.filename == "lotse-2026-W47.csv" and table.data is not None
    rows = list(csv.reader(io.StringIO(table.data.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 1 + 12 and len(rows[0]) == 2 + len(FIGURES)  # a row per period
    assert len({s.txn_id for s in matrix.sent}) == 4
    secrets = identifiers(ctx, filled, [p.label for p in PERIOD.trend(12)])
    for sent in matrix.sent:
        payload = sent.body + (sent.data or b"").decode("latin-1")
        assert not [s for s in secrets if s in payload], sent.filename


async def test_deliver_without_leadership_room(tmp_path: Path) -> None:
    ctx, matrix, db = await make_context(tmp_path, rooms={"admin": ADMIN_ROOM})
    try:
        assert await delivery.deliver(ctx, PERIOD, "test") is False
        assert matrix.sent == []
    finally:
        await db.close()


# --- scheduled ------------------------------------------------------------------------------


def clock_at(ctx: BotContext, when: dt.datetime) -> None:
    ctx.clock = lambda: when.timestamp()


async def test_scheduled_delivers_once(lead: tuple[BotContext, FakeMatrix, Database]) -> None:
    ctx, matrix, _ = lead
    clock_at(ctx, local(*MONDAY, 9))
    await delivery.scheduled(ctx)
    assert [s.filename for s in matrix.sent] == [
        None,
        "lotse-2026-W47.png",
        "lotse-2026-W47.pdf",
        "lotse-2026-W47.csv",
    ]
    assert await ctx.state.get(delivery.LAST) == "2026-W47"
    await delivery.scheduled(ctx)
    clock_at(ctx, local(2026, 11, 27, 16))
    await delivery.scheduled(ctx)
    assert len(matrix.sent) == 4
    # A week later, the next one.
    clock_at(ctx, local(2026, 11, 30, 8, 1))
    await delivery.scheduled(ctx)
    assert len(matrix.sent) == 8
    assert matrix.sent[-1].filename == "lotse-2026-W48.csv"
    assert await ctx.state.get(delivery.LAST) == "2026-W48"


async def test_scheduled_waits_for_the_delivery_time(lead: tuple[BotContext, FakeMatrix, Database]) -> None:
    ctx, matrix, _ = lead
    await ctx.state.put(delivery.LAST, "2026-W46")
    clock_at(ctx, local(*MONDAY, 7, 59))
    await delivery.scheduled(ctx)
    assert matrix.sent == []
    clock_at(ctx, local(*MONDAY, 8, 0))
    await delivery.scheduled(ctx)
    assert len(matrix.sent) == 4
    assert await ctx.state.get(delivery.LAST) == "2026-W47"


async def test_scheduled_catches_up_once_after_downtime(
    lead: tuple[BotContext, FakeMatrix, Database],
) -> None:
    ctx, matrix, _ = lead
    await ctx.state.put(delivery.LAST, "2026-W40")
    clock_at(ctx, local(2026, 11, 25, 10))
    await delivery.scheduled(ctx)
    await delivery.scheduled(ctx)
    assert [s.filename for s in matrix.sent if s.filename] == [
        "lotse-2026-W47.png",
        "lotse-2026-W47.pdf",
        "lotse-2026-W47.csv",
    ]
    assert await ctx.state.get(delivery.LAST) == "2026-W47"


async def test_scheduled_uses_the_organisation_time_zone(tmp_path: Path) -> None:
    # 23:30 UTC on Sunday is already Monday 08:30 in Tokyo.
    ctx, matrix, db = await make_context(
        tmp_path, rooms={"leadership": LEAD}, stats={"timezone": "Asia/Tokyo"}
    )
    try:
        clock_at(ctx, dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC))
        await delivery.scheduled(ctx)
        assert await ctx.state.get(delivery.LAST) == "2026-W47"
        assert len(matrix.sent) == 4
    finally:
        await db.close()


async def test_scheduled_without_leadership_room_records_nothing(tmp_path: Path) -> None:
    ctx, matrix, db = await make_context(tmp_path)
    try:
        clock_at(ctx, local(*MONDAY, 9))
        await delivery.scheduled(ctx)
        assert matrix.sent == []
        assert await ctx.state.get(delivery.LAST) is None
    finally:
        await db.close()


# --- the admin command ----------------------------------------------------------------------


async def command(
    ctx: BotContext, body: str, *, sender: UserID = ADMIN, room: RoomID = ADMIN_ROOM, kind: str = "admin"
) -> str:
    reply = await handle_message(
        ctx, COMMANDS, sender=sender, room_id=room, room_kind=kind, body=body, event_id=EventID("$cmd1")
    )
    assert reply is not None
    return reply.text


async def report_done(ctx: BotContext, body: str) -> str:
    """``!statistik …``: the answer at once says the report is being made; this returns the
    second answer, sent (as a reply to the command) when the report is in the leadership room."""
    matrix = ctx.matrix
    assert isinstance(matrix, FakeMatrix)
    first = await command(ctx, body)
    if not first.startswith(ctx.catalog.text("de", "stats.preparing", period="@").split("@")[0]):
        return first  # refused at once
    for _ in range(1000):
        done = [s for s in matrix.sent if s.room_id == ADMIN_ROOM and s.reply_to == EventID("$cmd1")]
        if done:
            return done[0].body
        await asyncio.sleep(0.01)
    raise AssertionError("the report was not posted")


async def test_command_posts_the_report(lead: tuple[BotContext, FakeMatrix, Database]) -> None:
    ctx, matrix, _ = lead
    text = await report_done(ctx, "!statistik 2026-W47")
    assert text == ctx.catalog.text("de", "stats.posted", period="2026-W47")
    assert [s.room_id for s in matrix.sent] == [LEAD] * 4 + [ADMIN_ROOM]
    assert matrix.sent[1].filename == "lotse-2026-W47.png"
    # The report goes to leadership; the admin hears that it is there (after the answer at once).
    assert matrix.texts_to(ADMIN_ROOM) == [text]


async def test_command_answers_before_the_report_is_made(
    lead: tuple[BotContext, FakeMatrix, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Making a report (the first time: freezing its figures over the whole store) runs in the
    background: the command answers at once, so the worker that answers everyone is not held."""
    ctx, matrix, _ = lead
    release = asyncio.Event()
    real = delivery.deliver

    async def slow(*args: object) -> bool:
        await release.wait()
        return await real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(delivery, "deliver", slow)
    text = await asyncio.wait_for(command(ctx, "!statistik 2026-W47"), 5)
    assert text == ctx.catalog.text("de", "stats.preparing", period="2026-W47")
    assert matrix.sent == []
    release.set()
    for _ in range(1000):
        if matrix.texts_to(ADMIN_ROOM):
            break
        await asyncio.sleep(0.01)
    assert matrix.texts_to(ADMIN_ROOM) == [ctx.catalog.text("de", "stats.posted", period="2026-W47")]
    assert [s.room_id for s in matrix.sent] == [LEAD] * 4 + [ADMIN_ROOM]


async def test_command_says_when_the_report_failed(
    lead: tuple[BotContext, FakeMatrix, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, _, _ = lead

    async def broken(*args: object) -> bool:
        raise RuntimeError("disk full")

    monkeypatch.setattr(delivery, "deliver", broken)
    assert await report_done(ctx, "!statistik 2026-W47") == ctx.catalog.text(
        "de", "stats.failed", period="2026-W47"
    )


async def test_command_month(lead: tuple[BotContext, FakeMatrix, Database]) -> None:
    ctx, matrix, _ = lead
    assert await report_done(ctx, "!statistik 2026-10") == ctx.catalog.text(
        "de", "stats.posted", period="2026-10"
    )
    assert matrix.sent[0].body.splitlines()[0] == "📊 Lotse-Bericht für Oktober 2026 (28.9.–1.11.)"


@pytest.mark.parametrize(
    "word", ["2026-W99", "2025-W53", "letzte", "2026-13", "2026-W47-und-noch-viel-mehr-text"]
)
async def test_command_bad_period(lead: tuple[BotContext, FakeMatrix, Database], word: str) -> None:
    ctx, matrix, _ = lead
    text = await command(ctx, f"!statistik {word}")
    assert text == ctx.catalog.text("de", "stats.bad_period", word=word[:20])
    assert matrix.sent == []


async def test_command_without_period_posts_a_past_week(
    lead: tuple[BotContext, FakeMatrix, Database],
) -> None:
    ctx, matrix, _ = lead
    text = await report_done(ctx, "!statistik")
    posted = matrix.sent[1].filename
    assert posted is not None
    week = posted.removeprefix("lotse-").removesuffix(".png")
    assert parse_period(week).kind == "week"
    assert text == ctx.catalog.text("de", "stats.posted", period=week)


async def test_command_without_period_follows_the_bot_clock(
    lead: tuple[BotContext, FakeMatrix, Database],
) -> None:
    ctx, _, _ = lead
    now = local(2030, 6, 12, 12)
    clock_at(ctx, now)
    expected = period_containing(now.date(), "week").previous().label
    assert expected == "2030-W23"
    assert await report_done(ctx, "!statistik") == ctx.catalog.text("de", "stats.posted", period=expected)


async def test_command_without_leadership_room(tmp_path: Path) -> None:
    ctx, matrix, db = await make_context(tmp_path, admins=[ADMIN], rooms={"admin": ADMIN_ROOM})
    try:
        assert await command(ctx, "!statistik 2026-W47") == ctx.catalog.text("de", "stats.no_room")
        assert matrix.sent == []
    finally:
        await db.close()


async def test_command_is_for_admins_in_the_admin_room(lead: tuple[BotContext, FakeMatrix, Database]) -> None:
    ctx, matrix, _ = lead
    assert await command(ctx, "!statistik 2026-W47", sender=WORKER) == ctx.catalog.text(
        "de", "dispatch.forbidden", command="statistik"
    )
    assert await command(ctx, "!statistik 2026-W47", room=LEAD, kind="leadership") == ctx.catalog.text(
        "de", "dispatch.wrong_room", command="statistik"
    )
    assert matrix.sent == []


async def test_scheduled_freezes_the_week_and_month_just_over_before_anyone_asks(tmp_path: Path) -> None:
    """The rollups a report is served from are made by the schedule as soon as a period is
    over (not by the first request for it), whether or not a report goes anywhere."""
    ctx, matrix, db = await make_context(tmp_path)
    try:
        clock_at(ctx, local(2026, 11, 29, 23, 55))  # Sunday night: W48 and November still run
        await delivery.scheduled(ctx)
        assert await ctx.stats.frozen("2026-W48") is None
        assert await ctx.stats.frozen("2026-11") is None
        clock_at(ctx, local(2026, 11, 30, 0, 5))  # Monday: both are over
        await delivery.scheduled(ctx)
        assert await ctx.stats.frozen("2026-W48") is not None
        assert await ctx.stats.frozen("2026-11") is not None
        assert matrix.sent == []
    finally:
        await db.close()
