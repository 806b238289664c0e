"""The admin command that posts the leadership report now (and sends it by e-mail, if set up)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.commands.types import CommandError, Reply, Request
from bot.context import BotContext
from bot.stats import delivery
from bot.stats.periods import parse_period, period_containing
from bot.stats.rollup import PeriodRunning


async def post_report(ctx: BotContext, req: Request) -> Reply:
    if req.args:
        try:
            period = parse_period(req.args[0])
        except ValueError:
            raise CommandError("stats.bad_period", word=req.args[0][:20]) from None
    else:
        today = dt.datetime.fromtimestamp(ctx.clock(), ZoneInfo(ctx.settings.stats.timezone)).date()
        period = period_containing(today, "week").previous()
    mail = ctx.settings.report_mail
    if ctx.room_of_kind("leadership") is None and mail is None:
        raise CommandError("stats.no_room")
    try:
        await delivery.deliver(ctx, period, str(req.event_id))
    except PeriodRunning:
        raise CommandError(
            "stats.running", period=period.label, day=period.end.strftime("%d.%m.%Y")
        ) from None
    if mail is None:
        return Reply(ctx.catalog.text(req.language, "stats.posted", period=period.label))
    key = "stats.posted_mail" if ctx.room_of_kind("leadership") is not None else "stats.mailed"
    return Reply(ctx.catalog.text(req.language, key, period=period.label, n=str(len(mail.to))))
