"""A worker's overview of their cases, short enough for a phone screen (``!fälle``)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.cases import lifecycle
from bot.commands.handlers.consent import in_team_of
from bot.commands.types import Reply, Request
from bot.context import BotContext


def _when(ctx: BotContext, ms: int, language: str) -> str:
    """ "heute 14:05", "gestern 09:12" or "03.12. 09:12", in the organisation's time zone."""
    tz = ZoneInfo(ctx.settings.stats.timezone)
    at = dt.datetime.fromtimestamp(ms / 1000, tz)
    today = dt.datetime.fromtimestamp(ctx.clock(), tz).date()
    if at.date() == today:
        day = ctx.catalog.text(language, "cases.today")
    elif at.date() == today - dt.timedelta(days=1):
        day = ctx.catalog.text(language, "cases.yesterday")
    else:
        day = at.strftime("%d.%m.")
    return f"{day} {at:%H:%M}"


async def my_cases(ctx: BotContext, req: Request) -> Reply:
    t = ctx.catalog.text
    me = ctx.subject(req.sender)
    lines: list[str] = []
    for intake in await ctx.consent.intakes_of_worker(me):
        if await lifecycle.is_closed(ctx, intake.intake_id):
            continue
        line = f"• #{intake.intake_id}"
        if intake.consultation_room is None:
            lines.append(f"{line} – {t(req.language, f'cases.state.{intake.state}')}")
            continue
        last, waiting, since = await ctx.consent.room_activity(intake.consultation_room, intake.subject, me)
        if last is not None:
            line += " – " + t(req.language, "cases.last", when=_when(ctx, last, req.language))
        if waiting and since is not None:
            line += " – " + t(
                req.language, "cases.waiting", n=str(waiting), since=_when(ctx, since, req.language)
            )
        lines.append(line)
    head = t(req.language, "cases.title", n=str(len(lines))) if lines else t(req.language, "cases.none")
    unclaimed = [i for i in await ctx.consent.unclaimed_intakes() if await in_team_of(ctx, i, req.sender)]
    tail = []
    if unclaimed:
        numbers = ", ".join(f"#{i.intake_id}" for i in unclaimed[:10])
        tail = ["", t(req.language, "cases.unclaimed", numbers=numbers)]
    return Reply("\n".join([head, *lines, *tail]))
