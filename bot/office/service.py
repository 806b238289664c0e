"""Office hours, absences and the one automatic answer a client gets when no one is in.

Whose hours count for a counselling room: the responsible worker's own, else their team's
(the team room the case belongs to), else the organisation's (``[stats]`` office hours, the
same the statistics use). Organisation holidays close every set of hours.

A client who writes while no one is in gets one polite answer per closed spell (not per
message): when they will get an answer, the substitute if their worker is away, and whom to
call in an emergency. Settings live in the key-value state under pseudonyms; no content.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_skeleton

from bot.context import BotContext
from bot.ids import RoomID, UserID, txn_id_for
from bot.office.absence import Absence
from bot.office.hours import WeeklyHours, from_days, parse_hours
from bot.store.consent import Intake

log = logging.getLogger(__name__)

HOURS = "office:hours:"  # + worker pseudonym, or "team:" + team room ID
ABSENCE = "office:absence:"  # + worker pseudonym
ANSWERED = "office:answered:"  # + counselling room ID: the closed spell already answered


@dataclass(frozen=True)
class Hours:
    hours: WeeklyHours
    source: str  # worker | team | organisation


def zone(ctx: BotContext) -> ZoneInfo:
    return ZoneInfo(ctx.settings.stats.timezone)


def now(ctx: BotContext) -> dt.datetime:
    return dt.datetime.fromtimestamp(ctx.clock(), zone(ctx))


def organisation_hours(ctx: BotContext) -> WeeklyHours:
    s = ctx.settings.stats
    return from_days(
        s.office_days, dt.time.fromisoformat(s.office_start), dt.time.fromisoformat(s.office_end)
    )


def team_key(team: RoomID) -> str:
    return f"{HOURS}team:{team}"


def worker_key(subject: str) -> str:
    return f"{HOURS}{subject}"


async def stored_hours(ctx: BotContext, key: str) -> WeeklyHours | None:
    spec = await ctx.state.get(key)
    return None if spec is None else parse_hours(spec)


async def set_hours(ctx: BotContext, key: str, hours: WeeklyHours | None) -> None:
    if hours is None:
        await ctx.state.delete(key)
    else:
        # Stored in the canonical German spelling, which parse_hours reads back.
        await ctx.state.put(key, hours.spelled("de").replace("–", "-"))


async def hours_for(ctx: BotContext, worker: str | None, team: RoomID | None) -> Hours:
    if worker is not None and (own := await stored_hours(ctx, worker_key(worker))) is not None:
        return Hours(own, "worker")
    if team is not None and (shared := await stored_hours(ctx, team_key(team))) is not None:
        return Hours(shared, "team")
    return Hours(organisation_hours(ctx), "organisation")


async def absence_of(ctx: BotContext, worker: str) -> tuple[Absence, str | None] | None:
    """The worker's absence (with the substitute's pseudonym) if it is not over yet."""
    raw = await ctx.state.get(f"{ABSENCE}{worker}")
    if raw is None:
        return None
    data = json.loads(raw)
    absence = Absence(dt.date.fromisoformat(data["start"]), dt.date.fromisoformat(data["until"]))
    if absence.until < now(ctx).date():
        await ctx.state.delete(f"{ABSENCE}{worker}")
        return None
    return absence, data.get("substitute")


async def set_absence(ctx: BotContext, worker: str, absence: Absence | None, substitute: str | None) -> None:
    key = f"{ABSENCE}{worker}"
    if absence is None:
        await ctx.state.delete(key)
        return
    value = {"start": absence.start.isoformat(), "until": absence.until.isoformat(), "substitute": substitute}
    await ctx.state.put(key, json.dumps(value))


def when(ctx: BotContext, language: str, at: dt.datetime, reference: dt.datetime) -> str:
    """ "heute ab 13:00 Uhr", "morgen ab 9:00 Uhr", "am Montag, 7. Dezember, ab 9:00 Uhr"."""
    clock = f"{at.hour}:{at.minute:02d}"
    days = (at.date() - reference.date()).days
    if days == 0:
        return ctx.catalog.text(language, "office.when.today", time=clock)
    if days == 1:
        return ctx.catalog.text(language, "office.when.tomorrow", time=clock)
    return ctx.catalog.text(language, "office.when.day", day=weekday_date(language, at.date()), time=clock)


def emergency(ctx: BotContext, language: str) -> str:
    contacts = ctx.settings.office.emergency_contacts
    # The client's language, else its base (German for plain German), else the default.
    lines = next((contacts[c] for c in ctx.catalog.fallbacks(language) if contacts.get(c)), [])
    if not lines:
        return ""
    return ctx.catalog.text(language, "office.emergency", contacts="\n".join(f"• {c}" for c in lines))


def date_text(language: str, day: dt.date) -> str:
    """ "24. Dezember", "December 24": the language's own way (CLDR), any language."""
    return format_skeleton("MMMMd", day, locale=language)


def weekday_date(language: str, day: dt.date) -> str:
    """ "Montag, 7. Dezember", "Monday, December 7": the weekday written out, which CLDR's
    skeletons only offer abbreviated ("Mo., 7. Dezember")."""
    skeleton = Locale.parse(language).datetime_skeletons.get("MMMMEd")
    if skeleton is None:
        return format_date(day, "full", locale=language)
    pattern = re.sub(r"E+", "EEEE", skeleton.pattern)
    return format_date(day, pattern, locale=language)


async def answer_if_closed(ctx: BotContext, intake: Intake, client: UserID, room: RoomID) -> bool:
    """Send the automatic answer if no one is in and this closed spell was not answered yet.
    Returns whether it was sent."""
    at = now(ctx)
    holidays = ctx.settings.office.holidays
    hours = await hours_for(ctx, intake.worker, intake.notify_room)
    away = await absence_of(ctx, intake.worker) if intake.worker else None
    absent = away is not None and away[0].covers(at.date())
    if not absent and hours.hours.is_open(at, holidays):
        return False
    language = await ctx.language_of(client) or ctx.catalog.default_language
    substitute: UserID | None = None
    if absent:
        assert away is not None
        absence, substitute_subject = away
        substitute = await ctx.person(substitute_subject) if substitute_subject else None
        back = dt.datetime.combine(absence.until + dt.timedelta(days=1), dt.time(0), at.tzinfo)
        opening = hours.hours.next_opening(max(back, at), holidays)
        spell = f"absent:{absence.until.isoformat()}:{substitute_subject or ''}"
    else:
        opening = hours.hours.next_opening(at, holidays)
        spell = f"closed:{opening.isoformat() if opening else 'never'}"
    key = f"{ANSWERED}{room}"
    if await ctx.state.get(key) == spell:
        return False
    await ctx.state.put(key, spell)

    parts = []
    if absent:
        assert away is not None
        parts.append(ctx.catalog.text(language, "office.away", until=date_text(language, away[0].until)))
        if substitute is not None:
            if substitute not in ctx.matrix.members(room):
                await ctx.matrix.invite(room, substitute)
            name = (
                ctx.matrix.display_name(intake.notify_room or room, substitute)
                or substitute.split(":")[0][1:]
            )
            parts.append(ctx.catalog.text(language, "office.substitute", name=name))
        elif opening is not None:
            parts.append(
                ctx.catalog.text(language, "office.answer_from", when=when(ctx, language, opening, at))
            )
    else:
        parts.append(ctx.catalog.text(language, "office.closed"))
        if opening is not None:
            parts.append(
                ctx.catalog.text(language, "office.answer_from", when=when(ctx, language, opening, at))
            )
    parts.append(ctx.catalog.text(language, "office.no_need_to_repeat"))
    if text := emergency(ctx, language):
        parts.append(text)
    await ctx.matrix.send_text(room, "\n\n".join(parts), txn_id_for("office", room, spell))
    log.info("automatic answer in %s (%s)", room, "absent" if absent else "closed")
    return True


# -- quiet outside office hours ---------------------------------------------------------------

QUIET = "office:quiet:"  # + worker pseudonym → "on"
HELD = "office:held:"  # + worker pseudonym → [[room, key, case number, cause], ...]


async def is_quiet(ctx: BotContext, worker: str) -> bool:
    return await ctx.state.get(f"{QUIET}{worker}") == "on"


async def set_quiet(ctx: BotContext, worker: str, on: bool) -> None:
    if on:
        await ctx.state.put(f"{QUIET}{worker}", "on")
    else:
        await ctx.state.delete(f"{QUIET}{worker}")


async def hold_if_quiet(
    ctx: BotContext, worker: str | None, team: RoomID | None, room: RoomID, key: str, case: int, cause: str
) -> bool:
    """Keep a notification about a worker's case that goes to their own chat with the bot until
    their next office hours, if they asked for quiet and are off now. Only what can be said
    again from the key and the case number is kept (never a client's words). Returns whether
    it was held."""
    if worker is None or not await is_quiet(ctx, worker):
        return False
    if await ctx.state.room_kind(room) != "direct":
        return False  # a team room is shared: colleagues on duty must see it now
    hours = await hours_for(ctx, worker, team)
    if hours.hours.is_open(now(ctx), ctx.settings.office.holidays):
        return False
    held = json.loads(await ctx.state.get(f"{HELD}{worker}") or "[]")
    held.append([room, key, case, cause])
    await ctx.state.put(f"{HELD}{worker}", json.dumps(held))
    return True


async def deliver_held(ctx: BotContext) -> None:
    """Post what was kept for workers whose office hours have begun, in one message per room."""
    for key, raw in (await ctx.state.with_prefix(HELD)).items():
        worker = key.removeprefix(HELD)
        held = json.loads(raw)
        if not held:
            await ctx.state.delete(key)
            continue
        hours = await hours_for(ctx, worker, ctx.team_room())
        if not hours.hours.is_open(now(ctx), ctx.settings.office.holidays):
            continue
        language = await ctx.state.language(worker) or ctx.catalog.default_language
        by_room: dict[str, list[str]] = {}
        for room, text_key, case, _ in held:
            line = ctx.catalog.text(
                language, text_key, n=str(case), age=str(ctx.settings.consent.minimum_age)
            )
            by_room.setdefault(room, []).append(line)
        await ctx.state.delete(key)
        for room, lines in by_room.items():
            body = "\n\n".join([ctx.catalog.text(language, "office.held_header"), *lines])
            await ctx.matrix.send_text(RoomID(room), body, txn_id_for("held", worker, room, held[0][3]))
