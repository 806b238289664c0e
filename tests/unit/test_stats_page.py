"""The one-page report, its PDF, the data-protection section and the German and English ways of
writing periods, durations and changes (issue #12.1–3)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from bot.context import BotContext
from bot.i18n import Catalog
from bot.stats import formatting as fmt
from bot.stats import page, privacy
from bot.stats import report as stats_report
from bot.stats.anonymize import Cell
from bot.stats.periods import parse_period
from bot.store.db import Database
from tests.support import make_context
from tests.unit.stats_fixture import BERLIN, PERIOD, Filled, fill, identifiers, ms

CAT = Catalog("de")


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[BotContext, Database, Filled]]:
    ctx, _, db = await make_context(tmp_path, stats={"k": 3})
    filled = await fill(ctx)
    try:
        yield ctx, db, filled
    finally:
        await db.close()


# --- periods, durations, changes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "de", "en"),
    [
        ("2026-W47", "KW 47 (16.–22.11.)", "week 47 (16–22 Nov)"),
        ("2026-W49", "KW 49 (30.11.–6.12.)", "week 49 (30 Nov – 6 Dec)"),
        ("2026-W53", "KW 53 (28.12.–3.1.)", "week 53 (28 Dec – 3 Jan)"),
        ("2026-11", "November 2026 (2.–29.11.)", "November 2026 (2–29 Nov)"),
        ("2026-12", "Dezember 2026 (30.11.–3.1.)", "December 2026 (30 Nov – 3 Jan)"),
    ],
)
def test_period_names(label: str, de: str, en: str) -> None:
    period = parse_period(label)
    assert fmt.period_name(CAT, period, "de") == de
    assert fmt.period_name(CAT, period, "en") == en


def test_period_short_and_ticks() -> None:
    assert fmt.period_short(CAT, parse_period("2026-W46"), "de") == "KW 46"
    assert fmt.period_short(CAT, parse_period("2026-W46"), "en") == "week 46"
    assert fmt.period_short(CAT, parse_period("2026-10"), "de") == "Oktober 2026"
    assert fmt.tick("2026-W07", "de") == "KW 7" and fmt.tick("2026-W07", "en") == "W7"
    assert fmt.tick("2026-03", "de") == "März 26" or fmt.tick("2026-03", "de").startswith("Mär")


@pytest.mark.parametrize(
    ("minutes", "de", "en"),
    [
        (0.2, "unter 1 min", "under 1 min"),
        (45, "45 min", "45 min"),
        (63.5, "1 Std. 4 min", "1 h 4 min"),
        (120, "2 Std.", "2 h"),
        (1440, "1 Tag", "1 day"),
        (60 * 51, "2 Tage 3 Std.", "2 days 3 h"),
    ],
)
def test_durations_in_hours_and_minutes(minutes: float, de: str, en: str) -> None:
    assert fmt.duration(CAT, minutes, "de") == de
    assert fmt.duration(CAT, minutes, "en") == en


def test_values_and_changes() -> None:
    def cell(value: float | None, unit: str = "count", hidden: bool = False) -> Cell:
        return Cell("x", None if hidden else value, hidden, unit)

    assert fmt.value(CAT, cell(1234), "de") == "1.234"
    assert fmt.value(CAT, cell(1234), "en") == "1,234"
    assert fmt.value(CAT, cell(92.4, "percent"), "de") == "92\u202f%"
    assert fmt.value(CAT, cell(92.4, "percent"), "en") == "92%"
    # Never "< 5": next to a percentage that reads as "under 5 %".
    assert fmt.value(CAT, cell(None, "percent", hidden=True), "de") == "zu wenige Fälle"
    assert fmt.value(CAT, None, "de") == "–"
    week = "KW 48"
    assert fmt.change(CAT, cell(12), cell(9), week, "de") == fmt.Change("+3 ggü. KW 48", 1)
    assert fmt.change(CAT, cell(80, "percent"), cell(92, "percent"), week, "de").text == (
        "−12 Prozentpunkte ggü. KW 48"
    )
    assert fmt.change(CAT, cell(90, "minutes"), cell(25, "minutes"), week, "de").text == (
        "+1 Std. 5 min ggü. KW 48"
    )
    assert fmt.change(CAT, cell(5), cell(5), week, "de") == fmt.Change("wie KW 48", 0)
    assert fmt.change(CAT, cell(5), cell(None, hidden=True), week, "de").text == "KW 48: zu wenige Fälle"
    assert fmt.change(CAT, cell(None, hidden=True), cell(5), week, "de").text == ""
    assert fmt.change(CAT, cell(1500), cell(3), "week 48", "en").text == "+1,497 vs week 48"


# --- the new figures ------------------------------------------------------------------------


async def test_reach_and_consent_funnel(env: tuple[BotContext, Database, Filled]) -> None:
    ctx, _, _ = env
    report = await stats_report.build(ctx, PERIOD)
    c = report.cells
    assert c["active_clients"].value == 8  # eight clients wrote (the outsider is nobody's client)
    assert c["consent_asked"].value == 7  # the question events the bot recorded in the intakes
    assert c["new_clients"].value == 4
    # One withdrawal: hidden together with whether and how fast it was honoured.
    assert all(
        c[key].suppressed for key in ("consent_withdrawn", "withdrawal_honoured", "withdrawal_minutes")
    )
    assert dict(report.trend)["2026-W46"]["consent_asked"].value == 0


async def test_withdrawals_honoured_when_the_room_was_closed(tmp_path: Path) -> None:
    from bot.ids import EventID, RoomID, UserID
    from bot.store.consent import EventMeta

    ctx, _, db = await make_context(tmp_path, stats={"k": 3})
    try:
        week = PERIOD
        metas = []
        for i in range(4):
            client = ctx.subject(UserID(f"@c{i}:example.org"))
            room = RoomID(f"!beratung{i}:example.org")
            intake = await ctx.consent.create_intake(
                RoomID(f"!i{i}:example.org"), client, worker=None, notify_room=None, state="withdrawn"
            )
            await ctx.consent.update_intake(intake.intake_id, consultation_room=room)
            at = ms(week, 2, 10, i)
            await ctx.consent.append(
                subject=client,
                scope="client",
                purpose="counselling",
                notice_version="1",
                language="de",
                decision="withdrawn",
                method="command",
                at_ms=at,
            )
            if i < 3:  # the bot's closing notice, 2, 4 and 6 seconds later; the fourth is not seen
                metas.append(
                    EventMeta(
                        EventID(f"$close{i}"),
                        room,
                        ctx.subject(ctx.matrix.user_id),
                        at + 2000 * (i + 1),
                        "m.room.message",
                        (),
                    )
                )
        await ctx.consent.record_events(metas)
        report = await stats_report.build(ctx, week)
        assert report.cells["consent_withdrawn"].value == 4
        assert report.cells["withdrawal_honoured"].value == 75.0
        assert report.cells["withdrawal_minutes"].value == pytest.approx(4 / 60)
        assert fmt.value(ctx.catalog, report.cells["withdrawal_minutes"], "de") == "unter 1 min"
    finally:
        await db.close()


async def test_erasure_is_done_when_its_receipt_is_complete(env: tuple[BotContext, Database, Filled]) -> None:
    ctx, db, _ = env
    # A second week: four erasures; one waits for a legal hold (not done), three finished after
    # 1, 3 and 5 days.
    week = PERIOD.next()
    for n, (days, held) in enumerate(((1, 0), (3, 0), (5, 0), (None, 1))):
        subject = f"tag{n}"
        requested = ms(week, 1, 9, n)
        await db.write(
            "INSERT INTO erasure_receipt (subject, requested_at, completed_at, held_rooms)"
            " VALUES (?, ?, ?, ?)",
            (subject, requested, requested + 60_000 if days is None else requested + days * 86_400_000, held),
        )
        await ctx.stats.add_rights_request("erasure", subject, requested, requested + 60_000)
    activity = await ctx.stats.activity(*week.bounds_ms(BERLIN), "bot")
    rights = sorted(activity.rights, key=lambda r: r.requested_ms)
    assert [None if r.served_ms is None else r.served_ms - r.requested_ms for r in rights] == [
        86_400_000,
        3 * 86_400_000,
        5 * 86_400_000,
        None,
    ]
    report = await stats_report.build(ctx, week)
    assert report.cells["erasure_requests"].value == 4
    assert report.cells["rights_turnaround"].value == pytest.approx(3 * 1440)  # the median: 3 days
    assert fmt.value(ctx.catalog, report.cells["rights_turnaround"], "de") == "3 Tage"


# --- the data-protection section ------------------------------------------------------------


def test_the_section_covers_the_last_whole_month() -> None:
    # A week in the middle of November: October; the last week of November: November.
    assert privacy.month_for(parse_period("2026-W47")).label == "2026-10"
    assert privacy.month_for(parse_period("2026-W48")).label == "2026-11"
    assert privacy.month_for(parse_period("2026-11")).label == "2026-11"


async def test_privacy_section(env: tuple[BotContext, Database, Filled]) -> None:
    ctx, db, _ = env
    november = parse_period("2026-11")
    # Hourly sweeps from Monday of W47 on (the fixture's run on Sunday is one of them).
    start = ms(PERIOD, 0, 0, 0)
    for hour in range(24 * 7):
        at = start + hour * 3_600_000
        await db.write(
            "INSERT INTO retention_run (started_at, finished_at, trigger) VALUES (?, ?, 'schedule')",
            (at + 17, None if hour == 5 else at + 5_000),
        )
    # Open erasures: one being retried (a person: fewer than k, so not counted exactly).
    await db.write("INSERT INTO erasure_receipt (subject, requested_at, held_rooms) VALUES ('t', 1, 1)")
    await db.write(
        "INSERT INTO erasure_pending (subject, room_id, receipt, reason) VALUES ('t', '!r:x', 1, 'retry')"
    )
    ctx.clock = lambda: dt.datetime(2026, 12, 1, 9, tzinfo=BERLIN).timestamp()
    report = await stats_report.build(ctx, parse_period("2026-W48"))
    section = report.privacy
    assert section is not None and section.period == november
    assert section.cells["consent_asked"].value == 7
    assert section.cells["access_requests"].value == 3
    assert section.cells["erasure_requests"].suppressed  # one person
    assert section.sweeps == 24 * 7 + 1
    # From the first sweep (Monday of W47) to the end of the month: two weeks of hours.
    assert section.sweeps_expected == 14 * 24 - 1
    assert section.unfinished_sweeps == 1
    # Then nothing from Sunday 23:00 of W47 to the end of the month: a week and an hour.
    assert section.longest_gap_minutes == pytest.approx((7 * 24 + 1) * 60, abs=1)
    assert section.open_retries.suppressed and section.open_postponed.value == 0
    rows = dict(stats_report.privacy_rows(ctx, report, "de"))
    assert rows["Löschläufe nach Zeitplan"] == (
        "169 von 335 geplanten (alle 1 Std.); längste Lücke 7 Tage 1 Std.; 1 nicht beendet"
        " (der nächste Lauf setzt sie fort)"
    )
    assert rows["Offene Löschungen, die wiederholt werden (Stand 1.12.2026)"] == "zu wenige Fälle"
    assert rows["Löschungen, die auf das Ende einer Aufbewahrungspflicht warten (Stand 1.12.2026)"] == "keine"
    text = stats_report.render_text(ctx, report, "de")
    assert "🔒 Datenschutz: November 2026 (2.–29.11.)" in text.splitlines()
    english = stats_report.render_text(ctx, report, "en")
    assert "🔒 Data protection: November 2026 (2–29 Nov)" in english.splitlines()


# --- the page and its PDF -------------------------------------------------------------------


def png_info(data: bytes) -> tuple[tuple[int, int], dict[str, str]]:
    image = Image.open(io.BytesIO(data))
    return image.size, {k: str(v) for k, v in image.info.items() if isinstance(v, str)}


async def test_page_for_a_phone_with_its_figures_inside(env: tuple[BotContext, Database, Filled]) -> None:
    ctx, _, filled = env
    report = await stats_report.build(ctx, PERIOD)
    data = stats_report.render_png(ctx, report, "de")
    (width, height), info = png_info(data)
    assert width == 1080 and 1.6 < height / width < 2.8  # a phone's screen, portrait
    assert json.loads(info["Lotse-Report"]) == json.loads(stats_report.render_json(report))
    assert info["Title"] == "Lotse-Bericht für KW 47 (16.–22.11.)"
    leaked = [
        s
        for s in identifiers(ctx, filled, [p.label for p in PERIOD.trend(12)])
        if s in data.decode("latin-1")
    ]
    assert not leaked


async def test_pdf_is_the_page_and_the_privacy_section(env: tuple[BotContext, Database, Filled]) -> None:
    ctx, _, filled = env
    report = await stats_report.build(ctx, PERIOD)
    pdf = stats_report.render_pdf(ctx, report, "en")
    assert pdf.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 2 and b"/Count 2" in pdf
    assert b"/Title" in pdf and b"/Creator (Lotse)" in pdf
    leaked = [
        s for s in identifiers(ctx, filled, [p.label for p in PERIOD.trend(12)]) if s in pdf.decode("latin-1")
    ]
    assert not leaked
    # The same page on A4 (portrait, 595 × 842 points).
    assert re.findall(rb"/MediaBox\s*\[\s*0 0 595.44 841.68\s*\]", pdf)


async def test_every_chart_and_tile_has_words(env: tuple[BotContext, Database, Filled]) -> None:
    ctx, _, _ = env
    report = await stats_report.build(ctx, PERIOD)
    for language in ("de", "en"):
        p = page._Page(ctx, report, language, page.PHONE)
        fig = page._figure(page.PHONE.width, p.height())
        p.draw(fig)
        texts = [t.get_text() for t in fig.texts]
        for key in ("in_target", "first_answer", "reach", "after_hours"):
            expected = ctx.catalog.text(language, f"stats.chart.{key}", target="8")
            assert any(expected.split()[0] in t for t in texts), key
        for key in page.TILES:
            label = ctx.catalog.text(language, f"stats.tile.{key}", target="8")
            assert any(label.split()[0] in t.get_text() for ax in fig.axes for t in ax.texts), key


async def test_demo_data_is_marked_on_the_page(env: tuple[BotContext, Database, Filled]) -> None:
    ctx, _, _ = env
    report = await stats_report.build(ctx, PERIOD)
    marked = stats_report.StatsReport(
        report.period,
        report.cells,
        report.trend,
        report.k,
        report.epsilon,
        report.teams,
        True,
        report.privacy,
    )
    for language, mark in (("de", "DEMO-DATEN"), ("en", "DEMO DATA")):
        p = page._Page(ctx, marked, language, page.PHONE)
        fig = page._figure(page.PHONE.width, p.height())
        p.draw(fig)
        assert mark in [t.get_text() for t in fig.texts]
    assert stats_report.render_text(ctx, marked, "de").splitlines()[1].startswith("Demo-Daten")


def test_command_line_writes_the_pdf_and_the_page(tmp_path: Path) -> None:
    from bot import cli

    config = tmp_path / "lotse.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        '[homeserver]\nurl = "http://127.0.0.1:1"\n'
        '[bot]\nuser_id = "@lotse:example.org"\npassword = "x"\n'
        '[stats]\nlanguage = "en"\n'
    )
    assert cli.main(["-c", str(config), "migrate"]) == 0
    pdf, png = tmp_path / "report.pdf", tmp_path / "report.png"
    assert (
        cli.main(["-c", str(config), "report", "--period", "2025-W47", "--format", "pdf", "--out", str(pdf)])
        == 0
    )
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert (
        cli.main(["-c", str(config), "report", "--period", "2025-W47", "--format", "png", "--out", str(png)])
        == 0
    )
    size, info = png_info(png.read_bytes())
    assert size[0] == 1080 and info["Title"] == "Lotse report for week 47 (17–23 Nov)"  # [stats] language
    assert (
        cli.main(["-c", str(config), "report", "--period", "2025-W47", "--format", "pdf"]) == 2
    )  # needs --out


async def test_a_month_leaves_out_a_figure_its_older_weeks_never_had(
    env: tuple[BotContext, Database, Filled],
) -> None:
    ctx, db, _ = env
    from bot.stats import rollup

    # W45 was frozen before consent_asked existed: it has no such cell.
    week = parse_period("2026-W45")
    await rollup.frozen(ctx, week)
    await db.write("DELETE FROM stats_cell WHERE period = ? AND figure = 'consent_asked'", (week.label,))
    month = await stats_report.build(ctx, parse_period("2026-11"))
    assert "consent_asked" not in month.cells  # not a sum of weeks that never showed it
    assert month.cells["consent_given"].value == 4  # the others add up as before
    assert fmt.value(ctx.catalog, month.cells.get("consent_asked"), "de") == "–"
    assert stats_report.render_png(ctx, month, "de").startswith(b"\x89PNG")
