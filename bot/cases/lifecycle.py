"""Handing a case over and closing it.

Handover: the responsible worker (or an admin) names a colleague; the bot invites them into
the counselling room. When the colleague joins, the case is theirs: they become moderator, the
client is told who takes over, the previous worker loses moderation and leaves the room. Until
then nothing changes, so a colleague who never accepts leaves the case where it was.

Closing: the client is told, the room becomes read-only (only the bot may post), and the
retention policy for closed cases applies from then on. State lives in the key-value store
under the case number; no content, no IDs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from bot.context import BotContext
from bot.ids import EventID, RoomID, UserID, txn_id_for
from bot.store.consent import Intake

log = logging.getLogger(__name__)

PENDING = "case:handover:"  # + case number → {"to": pseudonym, "from": pseudonym}
CLOSED = "case:closed:"  # + case number → unix ms
MODERATOR = 50


@dataclass(frozen=True)
class Pending:
    to: str
    previous: str | None


async def pending_handover(ctx: BotContext, case: int) -> Pending | None:
    raw = await ctx.state.get(f"{PENDING}{case}")
    if raw is None:
        return None
    data = json.loads(raw)
    return Pending(data["to"], data.get("from"))


async def is_closed(ctx: BotContext, case: int) -> bool:
    return await ctx.state.get(f"{CLOSED}{case}") is not None


async def offer_handover(ctx: BotContext, intake: Intake, colleague: UserID) -> bool:
    """Invite the colleague; the handover completes when they join. False: invite failed."""
    assert intake.consultation_room is not None
    to = await ctx.remember_person(colleague)
    value = {"to": to, "from": intake.worker}
    await ctx.state.put(f"{PENDING}{intake.intake_id}", json.dumps(value))
    if colleague in ctx.matrix.members(intake.consultation_room):
        return True  # already invited or in the room: their join (or this) completes it
    return await ctx.matrix.invite(intake.consultation_room, colleague)


async def complete_handover(ctx: BotContext, intake: Intake, joined: UserID, cause: EventID) -> bool:
    """The colleague joined the counselling room: the case is theirs now."""
    pending = await pending_handover(ctx, intake.intake_id)
    if pending is None or pending.to != ctx.subject(joined) or intake.consultation_room is None:
        return False
    room = intake.consultation_room
    previous = await ctx.person(pending.previous) if pending.previous else None
    await ctx.consent.update_intake(intake.intake_id, worker=pending.to)
    await ctx.state.delete(f"{PENDING}{intake.intake_id}")
    await ctx.matrix.set_user_power(room, joined, MODERATOR)
    client = await ctx.person(intake.subject)
    language = (await ctx.language_of(client) if client else None) or ctx.catalog.default_language
    name = ctx.matrix.display_name(room, joined) or joined.split(":")[0][1:]
    await ctx.matrix.send_text(
        room, ctx.catalog.text(language, "case.handed_over", name=name), txn_id_for(cause, "handover")
    )
    if previous is not None and previous != joined:
        await ctx.matrix.set_user_power(room, previous, 0)
        reason = ctx.catalog.text(
            ctx.catalog.default_language, "case.handover_reason", n=str(intake.intake_id)
        )
        await ctx.matrix.kick(room, previous, reason)
    if intake.notify_room is not None:
        worker_language = await ctx.state.language(pending.previous) if pending.previous else None
        await ctx.matrix.send_text(
            intake.notify_room,
            ctx.catalog.text(
                worker_language or ctx.catalog.default_language,
                "case.handover_done",
                n=str(intake.intake_id),
                name=name,
            ),
            txn_id_for(cause, "handover-team"),
        )
    log.info("case #%d handed over", intake.intake_id)
    return True


async def close(ctx: BotContext, intake: Intake, cause: str) -> None:
    """Tell the client, make the room read-only, apply the closed-case retention policy."""
    assert intake.consultation_room is not None
    room = intake.consultation_room
    client = await ctx.person(intake.subject)
    language = (await ctx.language_of(client) if client else None) or ctx.catalog.default_language
    await ctx.matrix.send_text(
        room, ctx.catalog.text(language, "case.closed_for_client"), txn_id_for(cause, "closed")
    )
    # Only the bot (100) may post from now on; the history stays readable until retention.
    await ctx.matrix.change_power_levels(room, {"events_default": 100})
    await ctx.state.put(f"{CLOSED}{intake.intake_id}", str(int(ctx.clock() * 1000)))
    await ctx.state.delete(f"{PENDING}{intake.intake_id}")
    policy = ctx.settings.retention.closed_case_policy
    if policy and ctx.policies.current is not None and policy in ctx.policies.current.policies:
        await ctx.retention.assign(RoomID(room), policy, "case-closed")
    elif policy:
        log.warning(
            "closed-case policy %r is not in the policy files; case #%d keeps its policy",
            policy,
            intake.intake_id,
        )
    log.info("case #%d closed", intake.intake_id)


async def client_writes_after_close(ctx: BotContext, intake: Intake, cause: EventID) -> None:
    """The client of a closed case writes to the bot again: they hear that the team knows,
    and the team hears it once a day (no content)."""
    client = await ctx.person(intake.subject)
    language = (await ctx.language_of(client) if client else None) or ctx.catalog.default_language
    await ctx.matrix.send_text(
        intake.room_id, ctx.catalog.text(language, "case.closed_client_writes"), txn_id_for(cause, "closed")
    )
    today = str(int(ctx.clock() // 86_400))
    key = f"case:closed_ping:{intake.intake_id}"
    room = intake.notify_room or ctx.team_room()
    if room is None or await ctx.state.get(key) == today:
        return
    await ctx.state.put(key, today)
    await ctx.matrix.send_text(
        room,
        ctx.catalog.text(ctx.catalog.default_language, "case.closed_client_back", n=str(intake.intake_id)),
        txn_id_for(cause, "closed-team"),
    )
