"""The admin command that posts the leadership report now (and sends it by e-mail, if set up)."""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from bot.commands.types import CommandError, Reply, Request
from bot.context import BotContext
from bot.ids import txn_id_for
from bot.stats import delivery
from bot.stats.periods import Period, parse_period, period_containing
from bot.stats.rollup import is_over

log = logging.getLogger(__name__)


async def post_report(ctx: BotContext, req: Request) -> Reply:
    """Checks what can be checked at once, then makes and posts the report in the background:
    the first report of a period freezes its figures, which over a large store takes seconds,
    and the bot keeps answering everyone else meanwhile. The admin hears when it is done."""
    if req.args:
        try:
            period = parse_period(req.args[0])
        except ValueError:
            raise CommandError("stats.bad_period", word=req.args[0][:20]) from None
    else:
        today = dt.datetime.fromtimestamp(ctx.clock(), ZoneInfo(ctx.settings.stats.timezone)).date()
        period = period_containing(today, "week").previous()
    if ctx.room_of_kind("leadership") is None and ctx.settings.report_mail is None:
        raise CommandError("stats.no_room")
    if not is_over(ctx, period):
        raise CommandError("stats.running", period=period.label, day=period.end.strftime("%d.%m.%Y"))
    ctx.scheduler.spawn("report", _deliver_and_tell(ctx, req, period))
    return Reply(ctx.catalog.text(req.language, "stats.preparing", period=period.label))


async def _deliver_and_tell(ctx: BotContext, req: Request, period: Period) -> None:
    try:
        await delivery.deliver(ctx, period, str(req.event_id))
    except Exception:
        log.exception("report %s failed", period.label)
        text = ctx.catalog.text(req.language, "stats.failed", period=period.label)
    else:
        text = done_text(ctx, req.language, period)
    await ctx.matrix.send_text(
        req.room_id, text, txn_id_for(req.event_id, "report-done"), reply_to=req.event_id
    )


def done_text(ctx: BotContext, language: str, period: Period) -> str:
    mail = ctx.settings.report_mail
    if mail is None:
        return ctx.catalog.text(language, "stats.posted", period=period.label)
    key = "stats.posted_mail" if ctx.room_of_kind("leadership") is not None else "stats.mailed"
    return ctx.catalog.text(language, key, period=period.label, n=str(len(mail.to)))
