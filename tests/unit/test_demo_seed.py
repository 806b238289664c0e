"""The demo's seeded history: a report worth looking at, clearly marked, never swept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot.devserver.seed import seed_demo_activity
from bot.ids import RoomID
from bot.retention.sweeper import plan
from bot.stats import report as stats_report
from bot.stats.periods import parse_period
from tests.support import make_context

TEAM = RoomID("!team:localhost")
NOW = dt.datetime(2026, 12, 3, 11, 0, tzinfo=dt.UTC)  # a Thursday in 2026-W49


async def test_seeded_report_shows_twelve_weeks_marked_as_demo(tmp_path: Path) -> None:
    ctx, _, db = await make_context(tmp_path, rooms={"team": TEAM})
    try:
        seeded = await seed_demo_activity(ctx, TEAM, now=NOW)
        assert seeded is not None and seeded.clients >= 40 and seeded.messages >= 400
        # Once per store: a restart of the demo does not double the history.
        assert await seed_demo_activity(ctx, TEAM, now=NOW) is None

        report = await stats_report.build(ctx, parse_period("2026-W48"))
        assert report.demo_data
        # Every week of the trend has figures to show (k = 5 people or more), and they grow.
        clients = [cells["messages_clients"] for _, cells in report.trend]
        assert all(c.value and not c.suppressed for c in clients[1:]), clients
        assert clients[-1].value is not None and clients[2].value is not None
        assert clients[-1].value > clients[2].value
        share = report.cells["answered_in_target"]
        assert share.value is not None and 50 <= share.value <= 100
        text = stats_report.render_text(ctx, report, "de")
        assert "Demo-Daten" in text.splitlines()[1]
        assert "demo.invalid" not in text and "!demo" not in text
        png = stats_report.render_png(ctx, report, "en")
        assert png.startswith(b"\x89PNG")

        # Made-up rooms are never swept or contacted; the real team room still is planned.
        planned = {p.room_id for p in await plan(ctx)}
        assert not any(r.startswith("!demo-") for r in planned)
    finally:
        await db.close()


async def test_reports_without_seeded_history_are_not_marked(tmp_path: Path) -> None:
    ctx, _, db = await make_context(tmp_path, rooms={"team": TEAM})
    try:
        report = await stats_report.build(ctx, parse_period("2026-W48"))
        assert not report.demo_data
        assert "Demo" not in stats_report.render_text(ctx, report, "de")
    finally:
        await db.close()
