"""Office hours and absences: ``!sprechzeiten`` and ``!abwesend``."""

from __future__ import annotations

from bot.commands.types import CommandError, Reply, Request
from bot.context import BotContext
from bot.ids import RoomID
from bot.office import service
from bot.office.absence import AbsenceError, parse_absence
from bot.office.hours import HoursError, parse_hours
from bot.people import PersonAmbiguous, PersonNotFound, find_person
from bot.roles import Role

_OFF = {"aus", "off", "standard", "default", "löschen", "loeschen", "reset"}
_TEAM = {"team"}


async def office_hours(ctx: BotContext, req: Request) -> Reply:
    t, lang = ctx.catalog.text, req.language
    args = list(req.args)
    for_team = bool(args) and args[0].casefold() in _TEAM
    if for_team:
        args = args[1:]
        if req.room_kind != "team":
            raise CommandError("office.team_only_in_team_room")
        key = service.team_key(req.room_id)
    else:
        key = service.worker_key(ctx.subject(req.sender))
    if not args:
        if for_team:
            hours = await service.stored_hours(ctx, key)
            source = "team" if hours is not None else "organisation"
            hours = hours or service.organisation_hours(ctx)
        else:
            found = await service.hours_for(ctx, ctx.subject(req.sender), _team_of(ctx, req))
            hours, source = found.hours, found.source
        return Reply(
            t(lang, f"office.hours_now.{source}", hours=hours.spelled(lang))
            + "\n"
            + t(lang, "office.hours_how", command=_word(req, "office_hours"))
        )
    if len(args) == 1 and args[0].casefold() in _OFF:
        await service.set_hours(ctx, key, None)
        fallback = service.organisation_hours(ctx).spelled(lang)
        return Reply(t(lang, "office.hours_cleared", hours=fallback))
    try:
        hours = parse_hours(" ".join(args))
    except HoursError as err:
        raise CommandError(err.key, word=err.word[:30]) from None
    await service.set_hours(ctx, key, hours)
    return Reply(
        t(lang, "office.hours_set.team" if for_team else "office.hours_set", hours=hours.spelled(lang))
    )


def _team_of(ctx: BotContext, req: Request) -> RoomID | None:
    return req.room_id if req.room_kind == "team" else ctx.team_room()


def _word(req: Request, key: str) -> str:
    """How the sender types a command (its name in their language)."""
    return next(c for c in req.table if c.key == key).name(req.language)


async def away(ctx: BotContext, req: Request) -> Reply:
    t, lang = ctx.catalog.text, req.language
    worker = ctx.subject(req.sender)
    today = service.now(ctx).date()
    if not req.args:
        current = await service.absence_of(ctx, worker)
        if current is None:
            return Reply(t(lang, "office.not_away", command=_word(req, "away")))
        absence, _ = current
        return Reply(t(lang, "office.away_now", until=service.date_text(lang, absence.until)))
    try:
        parsed = parse_absence(" ".join(req.args), today)
    except AbsenceError as err:
        raise CommandError(err.key, word=err.word[:40]) from None
    if parsed is None:
        await service.set_absence(ctx, worker, None, None)
        return Reply(t(lang, "office.back"))
    absence = parsed
    substitute_subject = None
    substitute_name = ""
    if absence.substitute is not None:
        rooms = [*ctx.roles.roster_rooms, *(r for r, k in ctx.configured_rooms.items() if k == "team")]
        if req.room_kind == "team":
            rooms.append(req.room_id)
        try:
            found = find_person(ctx, absence.substitute, rooms)
        except PersonNotFound:
            raise CommandError("person.not_found", word=absence.substitute[:40]) from None
        except PersonAmbiguous as err:
            names = ", ".join(f"{o.name} ({o.user})" for o in err.options[:5])
            raise CommandError("person.ambiguous", word=err.typed[:40], options=names) from None
        if found.user == req.sender:
            raise CommandError("office.substitute_self")
        if Role.WORKER not in await ctx.roles.roles(found.user):
            raise CommandError("office.substitute_not_worker", name=found.name)
        substitute_subject = await ctx.remember_person(found.user)
        substitute_name = found.name
    await service.set_absence(ctx, worker, absence, substitute_subject)
    start, until = service.date_text(lang, absence.start), service.date_text(lang, absence.until)
    text = t(lang, "office.away_set", start=start, until=until)
    if substitute_subject:
        text += "\n" + t(lang, "office.away_substitute", name=substitute_name)
    else:
        text += "\n" + t(lang, "office.away_no_substitute")
    return Reply(text)


_ON = {"an", "ein", "on", "ja", "yes"}


async def quiet(ctx: BotContext, req: Request) -> Reply:
    """Notifications about one's own cases in one's chat with the bot wait for office hours."""
    t, lang = ctx.catalog.text, req.language
    worker = ctx.subject(req.sender)
    if req.args:
        word = req.args[0].casefold()
        if word not in _ON | _OFF | {"nein", "no"}:
            raise CommandError("office.quiet_how", command=_word(req, "quiet"))
        await service.set_quiet(ctx, worker, word in _ON)
    found = await service.hours_for(ctx, worker, _team_of(ctx, req))
    state = "on" if await service.is_quiet(ctx, worker) else "off"
    return Reply(
        t(lang, f"office.quiet_{state}", hours=found.hours.spelled(lang), command=_word(req, "quiet"))
    )
