"""Delivering the report to the leadership room (and by e-mail) on schedule, catching up once
after downtime."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from bot.context import BotContext
from bot.ids import txn_id_for
from bot.stats import mail, rollup
from bot.stats import report as stats_report
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
    """Post the report to the leadership room (text, the page as a picture, its PDF, the CSV)
    and queue it for e-mail; False if there is nowhere to send it."""
    room = ctx.room_of_kind("leadership")
    if room is None and ctx.settings.report_mail is None:
        log.warning("no leadership room and no report_mail configured; report %s not sent", period.label)
        return False
    report = await stats_report.build(ctx, period)
    if room is not None:
        language = stats_report.language_of(ctx)
        text = stats_report.render_text(ctx, report, language)

        def pictures() -> tuple[bytes, bytes]:
            return (
                stats_report.render_png(ctx, report, language),
                stats_report.render_pdf(ctx, report, language),
            )

        png, pdf = await asyncio.to_thread(pictures)
        name = f"lotse-{period.label}"
        await ctx.matrix.send_text(room, text, txn_id_for(cause, period.label, "text"))
        await ctx.matrix.send_file(
            room, png, f"{name}.png", "image/png", txn_id_for(cause, period.label, "png")
        )
        await ctx.matrix.send_file(
            room, pdf, f"{name}.pdf", "application/pdf", txn_id_for(cause, period.label, "pdf")
        )
        await ctx.matrix.send_file(
            room,
            stats_report.render_csv(ctx, report, language).encode(),
            f"{name}.csv",
            "text/csv; charset=utf-8",
            txn_id_for(cause, period.label, "csv"),
        )
        log.info("leadership report %s delivered", period.label)
    await mail.enqueue(ctx, period.label)
    return True


async def scheduled(ctx: BotContext) -> None:
    s = ctx.settings.stats
    await rollup.freeze_due(ctx)
    hours = stats_report.office_hours(ctx)
    now = dt.datetime.fromtimestamp(ctx.clock(), hours.tz)
    period = due_period(
        now, s.report_weekday, dt.time.fromisoformat(s.report_time), await ctx.state.get(LAST)
    )
    if period is not None and await deliver(ctx, period, "schedule"):
        await ctx.state.put(LAST, period.label)
    # E-mails that failed before are tried again when their back-off is over.
    await mail.run_due(ctx)
