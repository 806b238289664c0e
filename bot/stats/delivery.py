"""Delivering the report to the leadership room on schedule, catching up once after downtime."""

from __future__ import annotations

import datetime as dt
import logging

from bot.context import BotContext
from bot.ids import txn_id_for
from bot.stats import report as stats_report
from bot.stats import rollup
from bot.stats.periods import Period, period_containing

log = logging.getLogger(__name__)

LAST = "stats_last_delivered"


def due_period(now_local: dt.datetime, weekday: int, at: dt.time, last_label: str | None) -> Period | None:
    """The previous full week, once this week's delivery time has passed and it was not sent.

    After downtime only the latest missed week is sent, once: leadership wants this week's
    news, not a pile of old reports.
    """
    this_week = period_containing(now_local.date(), "week")
    send_at = dt.datetime.combine(this_week.start + dt.timedelta(days=weekday), at, now_local.tzinfo)
    period = this_week.previous() if now_local >= send_at else this_week.previous().previous()
    if period.label == last_label:
        return None
    return period


async def deliver(ctx: BotContext, period: Period, cause: str) -> bool:
    room = ctx.room_of_kind("leadership")
    if room is None:
        log.warning("no leadership room configured; report %s not sent", period.label)
        return False
    language = ctx.catalog.default_language
    report = await stats_report.build(ctx, period)
    text = stats_report.render_text(ctx, report, language)
    await ctx.matrix.send_text(room, text, txn_id_for(cause, period.label, "text"))
    await ctx.matrix.send_file(
        room,
        stats_report.render_png(ctx, report, language),
        f"lotse-{period.label}.png",
        "image/png",
        txn_id_for(cause, period.label, "png"),
    )
    await ctx.matrix.send_file(
        room,
        stats_report.render_csv(ctx, report, language).encode(),
        f"lotse-{period.label}.csv",
        "text/csv; charset=utf-8",
        txn_id_for(cause, period.label, "csv"),
    )
    log.info("leadership report %s delivered", period.label)
    return True


async def scheduled(ctx: BotContext) -> None:
    s = ctx.settings.stats
    await rollup.freeze_due(ctx)
    hours = stats_report.office_hours(ctx)
    now = dt.datetime.fromtimestamp(ctx.clock(), hours.tz)
    period = due_period(
        now, s.report_weekday, dt.time.fromisoformat(s.report_time), await ctx.state.get(LAST)
    )
    if period is None:
        return
    if await deliver(ctx, period, "schedule"):
        await ctx.state.put(LAST, period.label)
