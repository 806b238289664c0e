"""The admin command that posts the leadership report now."""

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
    if ctx.room_of_kind("leadership") is None:
        raise CommandError("stats.no_room")
    try:
        await delivery.deliver(ctx, period, str(req.event_id))
    except PeriodRunning:
        raise CommandError(
            "stats.running", period=period.label, day=period.end.strftime("%d.%m.%Y")
        ) from None
    return Reply(ctx.catalog.text(req.language, "stats.posted", period=period.label))
