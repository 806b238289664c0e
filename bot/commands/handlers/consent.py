"""Consent commands: intakes for workers, rights for clients, rules and texts for staff."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from bot.commands.handlers.arguments import account_and_rest, room_argument
from bot.commands.types import CommandError, Reply, Request
from bot.consent import rights, runtime
from bot.context import BotContext
from bot.ids import UserID, txn_id_for
from bot.roomnames import (
    clean_label,
    consultation_name,
    describe,
    is_reset,
    keep_label,
    names_the_person,
    split_case,
)
from bot.store.consent import Intake


async def _intake_from(ctx: BotContext, args: Sequence[str]) -> tuple[Intake, list[str]]:
    """The request the first words name ("12", "#12", "Anfrage 12", "Fall 12") and the words
    after them."""
    number, rest = split_case(args)
    if number is None:
        raise CommandError("intake.bad_number", word=(args[0] if args else "")[:20])
    intake = await ctx.consent.intake_by_id(number)
    if intake is None:
        raise CommandError("intake.unknown", n=str(number))
    return intake, rest


async def in_team_of(ctx: BotContext, intake: Intake, user: UserID) -> bool:
    """Whether ``user`` belongs to the team an intake waits in: a worker sees and takes only
    their own team's requests. An intake that waits in no team room is anyone's to take."""
    room = intake.notify_room or ctx.team_room()
    if room is None:
        return True
    kind = ctx.configured_rooms.get(room) or await ctx.state.room_kind(room)
    if kind != "team":
        return True
    return user in ctx.matrix.members(room)


async def _own_intake(ctx: BotContext, req: Request) -> Intake:
    """The intake of the 1:1 room the client writes in; only the client may act on it."""
    intake = await ctx.consent.intake_by_room(req.room_id)
    if intake is None or intake.subject != ctx.subject(req.sender):
        raise CommandError("rights.not_yours")
    return intake


async def new_intake(ctx: BotContext, req: Request) -> Reply:
    """``!neu kim``, ``!neu Kim Berger Wohnungssuche``, ``!neu @kim:example.org``: a 1:1 chat
    with a client of this homeserver, optionally with the case's short label."""
    if not req.args:
        raise CommandError("intake.new.usage", server=ctx.settings.server_name)
    found, rest = await account_and_rest(ctx, req.args)
    client = found.user
    for existing in await ctx.consent.intakes_of(ctx.subject(client)):
        if existing.state not in ("declined", "withdrawn"):
            raise CommandError("intake.new.exists", n=str(existing.intake_id))
    label = clean_label(rest)
    if is_reset(label):
        label = ""
    if label and names_the_person(label, found.name, client):
        raise CommandError("casename.is_a_name", example=_label_example(ctx, req.language))
    room = await ctx.matrix.create_room(name=None, invite=[client], is_direct=True)
    if room is None:
        raise CommandError("intake.new.failed")
    await ctx.state.set_room_kind(room, "intake")
    intake = await runtime.start_intake(
        ctx, room, client, worker=req.sender, notify_room=req.room_id, client_present=False
    )
    t = ctx.catalog.text
    who = found.name if found.name == client else f"{found.name} ({client})"
    text = t(req.language, "intake.new.created", n=str(intake.intake_id), user=who)
    if label:
        await keep_label(ctx, intake.intake_id, label)
        text += "\n" + t(
            req.language,
            "casename.later",
            n=str(intake.intake_id),
            name=consultation_name(ctx, intake.intake_id, label),
        )
    return Reply(text)


def _label_example(ctx: BotContext, language: str) -> str:
    return ctx.catalog.text(language, "casename.example_label")


async def claim(ctx: BotContext, req: Request) -> None:
    intake, _ = await _intake_from(ctx, req.args)
    me = ctx.subject(req.sender)
    if intake.worker is not None and intake.worker != me:
        raise CommandError("intake.claim.taken", n=str(intake.intake_id))
    if intake.worker is None and not await in_team_of(ctx, intake, req.sender):
        raise CommandError("intake.other_team", n=str(intake.intake_id))
    if intake.state in ("declined", "withdrawn"):
        raise CommandError("intake.claim.closed", n=str(intake.intake_id))
    # The answer first, then what it sets off (the room, the invitations): in that order on screen.
    key = "intake.claim.done_open" if intake.state == "active" else "intake.claim.done"
    await ctx.matrix.send_text(
        req.room_id,
        ctx.catalog.text(req.language, key, n=str(intake.intake_id)),
        txn_id_for(req.event_id, "reply"),
        reply_to=req.event_id,
    )
    await runtime.worker_claims(ctx, intake, req.sender, req.room_id, str(req.event_id))


async def guardian(ctx: BotContext, req: Request) -> Reply:
    intake, rest = await _intake_from(ctx, req.args)
    if intake.worker != ctx.subject(req.sender):
        raise CommandError("intake.not_responsible", n=str(intake.intake_id))
    # Evidence of how the guardians consented: the consent log and the client's export show it.
    note = " ".join(rest).strip()[:200]
    if not note:
        raise CommandError("intake.guardian.note_required", n=str(intake.intake_id))
    if not await runtime.guardian_confirmed(ctx, intake, req.sender, str(req.event_id), note):
        raise CommandError("intake.guardian.not_waiting", n=str(intake.intake_id))
    return Reply(ctx.catalog.text(req.language, "intake.guardian.recorded", n=str(intake.intake_id)))


async def answer(ctx: BotContext, req: Request) -> Reply:
    """A worker answers a question the client asked before consenting."""
    if len(req.args) < 2:
        raise CommandError("intake.answer.usage")
    intake, words = await _intake_from(ctx, req.args)
    if not words:
        raise CommandError("intake.answer.usage")
    if intake.worker is not None and intake.worker != ctx.subject(req.sender):
        raise CommandError("intake.not_responsible", n=str(intake.intake_id))
    if intake.worker is None and not await in_team_of(ctx, intake, req.sender):
        raise CommandError("intake.other_team", n=str(intake.intake_id))
    if intake.state in ("declined", "withdrawn"):
        raise CommandError("intake.claim.closed", n=str(intake.intake_id))
    await runtime.answer_question(ctx, intake, " ".join(words), str(req.event_id))
    return Reply(ctx.catalog.text(req.language, "intake.answer.sent", n=str(intake.intake_id)))


async def withdraw(ctx: BotContext, req: Request) -> None:
    await runtime.withdraw(ctx, await _own_intake(ctx, req), str(req.event_id))


async def my_data(ctx: BotContext, req: Request) -> None:
    await rights.send_export(ctx, await _own_intake(ctx, req), str(req.event_id))


async def delete(ctx: BotContext, req: Request) -> Reply:
    intake = await _own_intake(ctx, req)
    if intake.state != "erase_confirm":
        # A pending withdrawal is superseded: the next "ja" confirms the erasure, nothing else.
        await ctx.consent.update_intake(
            intake.intake_id, state="erase_confirm", prior_state=intake.state, pending=None
        )
    return Reply(ctx.catalog.text(req.language, "erase.confirm"))


async def rules(ctx: BotContext, req: Request) -> Reply:
    notice = ctx.worker_rules.get().for_language(req.language, ctx.catalog.default_language)
    _, full = notice.render(runtime.notice_values(ctx, req.language))
    return Reply(
        f"{full}\n\n{ctx.catalog.text(req.language, 'rules.how_to_ack', version=notice.version)}",
        markdown=True,
    )


async def acknowledge(ctx: BotContext, req: Request) -> Reply:
    texts = ctx.worker_rules.get()
    await ctx.consent.append(
        subject=ctx.subject(req.sender),
        scope="worker_rules",
        purpose="employment",
        notice_version=texts.version,
        language=req.language,
        decision="acknowledged",
        method="command",
        event_id=str(req.event_id) or None,
    )
    return Reply(ctx.catalog.text(req.language, "rules.acknowledged", version=texts.version))


async def rules_acknowledged(ctx: BotContext, user: UserID) -> bool:
    latest = await ctx.consent.latest(ctx.subject(user), "worker_rules")
    return latest is not None and latest.notice_version == ctx.worker_rules.get().version


async def rules_prompt(ctx: BotContext, language: str) -> Reply:
    notice = ctx.worker_rules.get().for_language(language, ctx.catalog.default_language)
    summary, _ = notice.render(runtime.notice_values(ctx, language))
    return Reply(
        f"{summary}\n\n{ctx.catalog.text(language, 'rules.required', version=notice.version)}", markdown=True
    )


async def reload_texts(ctx: BotContext, req: Request) -> Reply:
    lines = []
    for name, holder in (("consent", ctx.consent_notices), ("worker-rules", ctx.worker_rules)):
        error = holder.reload()
        if error is None:
            lines.append(ctx.catalog.text(req.language, "reload.ok", name=name, version=holder.get().version))
            if outdated := holder.get().outdated:
                # Translations not yet updated: set aside, their readers get the default text.
                languages = ", ".join(f"{code} ({version})" for code, version in sorted(outdated.items()))
                lines.append(
                    ctx.catalog.text(req.language, "reload.outdated", name=name, languages=languages)
                )
        else:
            kept = holder.current.version if holder.current else "-"
            lines.append(
                ctx.catalog.text(
                    req.language,
                    "reload.failed",
                    name=name,
                    file=error.path.name,
                    line=str(error.line),
                    reason=error.reason,
                    version=kept,
                )
            )
    from bot.commands.handlers.retention import reload_retention

    lines.append(await reload_retention(ctx, req))
    return Reply("\n".join(lines))


async def hold(ctx: BotContext, req: Request) -> Reply:
    if len(req.args) < 2:
        raise CommandError("hold.usage")
    # The date (or "aus") is the last word; everything before it names the room.
    room = await room_argument(ctx, " ".join(req.args[:-1]), req.language)
    label = await describe(ctx, room, req.language)
    if req.args[-1].casefold() in ("aus", "off", "-"):
        await ctx.consent.lift_hold(room)
        await ctx.retention.audit(ctx.subject(req.sender), "hold_lifted", room, None, None)
        ctx.scheduler.trigger("erasures")  # anything postponed there may go now
        return Reply(ctx.catalog.text(req.language, "hold.lifted", room=label))
    try:
        until = dt.date.fromisoformat(req.args[-1])
    except ValueError:
        raise CommandError("hold.bad_date", word=req.args[-1][:20]) from None
    until_ms = int(dt.datetime.combine(until, dt.time(23, 59, 59), dt.UTC).timestamp() * 1000)
    await ctx.consent.set_hold(room, until_ms, ctx.subject(req.sender))
    await ctx.retention.audit(ctx.subject(req.sender), "hold_set", room, None, until.isoformat())
    return Reply(ctx.catalog.text(req.language, "hold.set", room=label, until=until.isoformat()))
