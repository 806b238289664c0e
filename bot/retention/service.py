"""Retention at run time: loading policies (with the last good set as fallback), recording
the history of rooms that are older than the bot, and the periodic sweep."""

from __future__ import annotations

import json
import logging

from bot.context import BotContext
from bot.ids import RoomAlias, RoomID, txn_id_for
from bot.retention.policy import PolicyError
from bot.store.consent import EventMeta, now_ms

log = logging.getLogger(__name__)

SNAPSHOT = "retention_policy_texts"


async def load_at_start(ctx: BotContext) -> PolicyError | None:
    """Load the policy files; if they are broken, fall back to the last good set stored."""
    error = ctx.policies.reload()
    if error is None:
        await ctx.state.put(SNAPSHOT, json.dumps(ctx.policies.texts))
        if not ctx.policies.current.policies:
            log.warning("no retention policies in %s: nothing will be deleted", ctx.policies.directory)
    else:
        log.error("retention policies refused: %s", error)
        stored = await ctx.state.get(SNAPSHOT)
        if stored and ctx.policies.restore(json.loads(stored)):
            log.warning("enforcing the last good retention policies instead")
        await report_policy_error(ctx, error)
    await resolve_policy_aliases(ctx)
    return error


async def reload(ctx: BotContext) -> PolicyError | None:
    error = ctx.policies.reload()
    if error is None:
        await ctx.state.put(SNAPSHOT, json.dumps(ctx.policies.texts))
        await resolve_policy_aliases(ctx)
    return error


async def report_policy_error(ctx: BotContext, error: PolicyError) -> None:
    room = ctx.admin_room()
    if room is None:
        return
    language = ctx.catalog.default_language
    text = ctx.catalog.text(
        language, "retention.policy_error", file=error.path.name, line=str(error.line), reason=error.reason
    )
    await ctx.matrix.send_text(room, text, txn_id_for("policy-error", str(error), str(now_ms() // 60_000)))


async def resolve_policy_aliases(ctx: BotContext) -> None:
    ctx.policy_rooms.clear()  # an alias may point elsewhere now
    for policy in ctx.policies.current.policies.values():
        for ref in policy.rooms:
            if ref.startswith("#") and ref not in ctx.policy_rooms:
                room = await ctx.matrix.resolve_alias(RoomAlias(ref))
                if room is None:
                    log.warning("policy %s names alias %s, which does not resolve", policy.name, ref)
                else:
                    ctx.policy_rooms[ref] = room


async def register_rooms(ctx: BotContext, joined: list[RoomID]) -> None:
    """Rooms the bot was in before its database knew them get a kind, so they are swept.
    One read and one write however many rooms (a bot in a thousand rooms starts quickly)."""
    known = await ctx.state.room_kinds()
    new = {room: ctx.configured_rooms.get(room, "group") for room in joined if room not in known}
    if new:
        await ctx.state.add_rooms(new)


async def backfill(ctx: BotContext) -> int:
    """Record the metadata of messages sent before the bot joined (once per room)."""
    total = 0
    for room in await ctx.retention.rooms():
        if room.backfilled_at is not None:
            continue
        history = await ctx.matrix.room_history(room.room_id)
        await ctx.consent.record_events(
            EventMeta(h.event_id, room.room_id, ctx.subject(h.sender), h.timestamp_ms, h.type, h.media)
            for h in history
        )
        await ctx.retention.set_room_flags(room.room_id, backfilled_at=now_ms())
        total += len(history)
        if history:
            log.info("recorded %d earlier events in %s", len(history), room.room_id)
    return total
