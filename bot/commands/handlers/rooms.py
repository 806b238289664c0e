"""A case's short label: ``!fallname 3 Wohnungssuche`` names the counselling room
"Fall 3 · Wohnungssuche", so that a worker finds it among their rooms (never by the client's
name: room names show on lock screens and in notifications)."""

from __future__ import annotations

from bot.commands.types import CommandError, Reply, Request
from bot.context import BotContext
from bot.roles import Role
from bot.roomnames import (
    clean_label,
    consultation_name,
    is_reset,
    keep_label,
    names_the_person,
    split_case,
)
from bot.store.consent import Intake


async def _which_case(ctx: BotContext, req: Request) -> tuple[Intake, list[str]]:
    """The case a label is for: the counselling room it is typed in, or a number first."""
    number, words = split_case(req.args)
    if req.room_kind == "consultation":
        intake = await ctx.consent.intake_by_consultation(req.room_id)
        if intake is None:
            raise CommandError("casename.usage")
        if number != intake.intake_id:
            words = list(req.args)  # "!fallname 2. Anlauf": all of it is the label
        return intake, words
    if number is None:
        raise CommandError("casename.usage")
    found = await ctx.consent.intake_by_id(number)
    if found is None:
        raise CommandError("intake.unknown", n=str(number))
    return found, words


async def case_label(ctx: BotContext, req: Request) -> Reply:
    t = ctx.catalog.text
    intake, words = await _which_case(ctx, req)
    n = str(intake.intake_id)
    if Role.ADMIN not in req.roles and intake.worker != ctx.subject(req.sender):
        raise CommandError("intake.not_responsible", n=n)
    if intake.state in ("declined", "withdrawn"):
        raise CommandError("intake.claim.closed", n=n)
    label: str | None = clean_label(words)
    if not label:
        raise CommandError("casename.usage")
    if is_reset(label):
        label = None
    if label is not None:
        client = await ctx.person(intake.subject)
        if client is not None:
            shown = ctx.matrix.display_name(intake.consultation_room or intake.room_id, client)
            if names_the_person(label, shown, client):
                raise CommandError("casename.is_a_name", example=t(req.language, "casename.example_label"))
    name = consultation_name(ctx, intake.intake_id, label)
    if intake.consultation_room is None:
        # Named when the room is made, after the client's consent.
        await keep_label(ctx, intake.intake_id, label)
        return Reply(t(req.language, "casename.later", n=n, name=name))
    if not await ctx.matrix.set_room_state(intake.consultation_room, "m.room.name", {"name": name}):
        raise CommandError("casename.failed", n=n)
    await keep_label(ctx, intake.intake_id, None)
    return Reply(t(req.language, "casename.set", n=n, name=name))
