"""Handing a case over (``!übergabe``) and closing it (``!abschluss``)."""

from __future__ import annotations

from bot.cases import lifecycle
from bot.commands.types import CommandError, Reply, Request
from bot.context import BotContext
from bot.people import PersonAmbiguous, PersonNotFound, find_person
from bot.roles import Role
from bot.roomnames import split_case
from bot.store.consent import Intake


async def _case(ctx: BotContext, req: Request, args: list[str]) -> tuple[Intake, list[str]]:
    """The case this command is about: the counselling room it is typed in, or a number."""
    if req.room_kind == "consultation":
        intake = await ctx.consent.intake_by_consultation(req.room_id)
        if intake is None:
            raise CommandError("case.unknown_room")
    else:
        # "3", "#3", "Fall 3", "case #3"
        number, args = split_case(args)
        if number is None:
            raise CommandError("case.which")
        intake = await ctx.consent.intake_by_id(number)
        if intake is None or intake.consultation_room is None:
            raise CommandError("case.not_found", n=str(number))
    if Role.ADMIN not in req.roles and intake.worker != ctx.subject(req.sender):
        raise CommandError("case.not_yours", n=str(intake.intake_id))
    if await lifecycle.is_closed(ctx, intake.intake_id):
        raise CommandError("case.already_closed", n=str(intake.intake_id))
    return intake, args


async def handover(ctx: BotContext, req: Request) -> Reply:
    intake, args = await _case(ctx, req, list(req.args))
    if not args:
        raise CommandError("case.handover_to_whom", n=str(intake.intake_id))
    typed = " ".join(args)
    rooms = [*ctx.roles.roster_rooms, *(r for r, k in ctx.configured_rooms.items() if k == "team")]
    if intake.notify_room is not None:
        rooms.append(intake.notify_room)
    try:
        found = find_person(ctx, typed, rooms)
    except PersonNotFound:
        raise CommandError("person.not_found", word=typed[:40]) from None
    except PersonAmbiguous as err:
        names = ", ".join(f"{o.name} ({o.user})" for o in err.options[:5])
        raise CommandError("person.ambiguous", word=err.typed[:40], options=names) from None
    if ctx.subject(found.user) == intake.worker:
        raise CommandError("case.handover_same", name=found.name)
    if Role.WORKER not in await ctx.roles.roles(found.user):
        raise CommandError("office.substitute_not_worker", name=found.name)
    if not await lifecycle.offer_handover(ctx, intake, found.user):
        raise CommandError("case.invite_failed", name=found.name)
    return Reply(
        ctx.catalog.text(req.language, "case.handover_offered", n=str(intake.intake_id), name=found.name)
    )


async def close_case(ctx: BotContext, req: Request) -> Reply | None:
    intake, _ = await _case(ctx, req, list(req.args))
    await lifecycle.close(ctx, intake, f"close:{intake.intake_id}")
    return Reply(ctx.catalog.text(req.language, "case.closed", n=str(intake.intake_id)))
