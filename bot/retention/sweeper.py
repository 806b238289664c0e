"""The sweep: find expired events, redact them, delete their media, and keep the evidence.

One sweep walks every room Lotse is in:

1. Resolve the room's policy (see :mod:`bot.retention.resolve`); rooms without one are kept.
2. Make the room say what applies: ``m.room.retention`` state (so a homeserver with retention
   enabled purges on its side too) and, when the policy is new or changed, a short notice in
   the room's language.
3. Skip rooms under a legal hold.
4. Where nobody but the bot is left in the room and purging is allowed (``purge_history``,
   admin API), purge the expired history on the server instead of redacting it event by event
   (no client would receive those redactions), and mark what the server no longer serves.
5. Redact the (remaining) expired events, oldest first, ``IN_FLIGHT`` at a time (an index on
   ``(room_id, ts)`` over events not yet redacted keeps this fast on millions of rows), and
   delete media whose own lifetime ended. Every redaction's transaction ID is derived from the
   event ID, so a sweep that is killed half-way and run again never redacts an event twice: the
   homeserver recognises the repeated transaction. An event is marked redacted only after the
   homeserver said so.
6. Write what was done per room kind into ``retention_run``; an expired event that could not
   be removed is an alert in the admin room.

Rate limits and outages are handled below this module: requests wait and retry.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field

from bot.context import BotContext
from bot.ids import EventID, RoomID, txn_id_for
from bot.retention.media import MediaOutcome, delete_senders_media
from bot.retention.policy import Policy, format_duration
from bot.retention.resolve import Resolution, resolve

log = logging.getLogger(__name__)

BATCH = 1000
# Redactions on their way at once. Synapse spends most of a redaction's time on its own CPU,
# and every answer the bot gives queues behind what is in flight: with 2 at once (2,000
# messages, 2 cores) answers took 2.8x the bare bot's and the sweep was no faster. One at a
# time (b04bf93) answered at 1.03x and swept at 1.11x a raw nio loop's speed (bench_expiry).
IN_FLIGHT = 1
# A purge is verified by listing what the server still serves in the room: up to this many
# events (more: the room is swept one redaction at a time instead).
LISTING_LIMIT = 100_000
LISTING_PAGE = 2_000


@dataclass
class RoomPlan:
    room_id: RoomID
    kind: str
    resolution: Resolution
    held_until: int | None
    expired: int = 0
    media_expired: int = 0


@dataclass
class SweepResult:
    run: int | None = None
    redacted: int = 0
    media_deleted: int = 0
    failures: int = 0
    purges: int = 0
    forbidden_rooms: set[RoomID] = field(default_factory=set)
    survivors: Counter[str] = field(default_factory=Counter)
    # Rooms (by kind) where the bot was refused m.room.retention for the first time.
    state_refused: Counter[str] = field(default_factory=Counter)


def now_ms(ctx: BotContext) -> int:
    return int(ctx.clock() * 1000)


def cutoffs(policy: Policy, at_ms: int) -> tuple[int, int]:
    return (
        at_ms - int(policy.message_lifetime.total_seconds() * 1000),
        at_ms - int(policy.media_lifetime.total_seconds() * 1000),
    )


async def room_refs(ctx: BotContext, room_id: RoomID) -> set[str]:
    """The room's ID and the aliases under which policy files may name it."""
    return {room_id} | {alias for alias, room in ctx.policy_rooms.items() if room == room_id}


async def plan(ctx: BotContext) -> list[RoomPlan]:
    """Which policy applies where and how much is due: the dry run, and the sweep's first step."""
    policies = ctx.policies.current
    assignments = await ctx.retention.assignments()
    at = now_ms(ctx)
    holds = await ctx.consent.holds(at)
    plans = []
    due: list[tuple[RoomID, int, int]] = []
    for room in await ctx.retention.rooms():
        kind = ctx.configured_rooms.get(room.room_id, room.kind)
        resolution = resolve(room.room_id, kind, policies, assignments, await room_refs(ctx, room.room_id))
        held = holds.get(room.room_id)
        plans.append(RoomPlan(room.room_id, kind, resolution, held))
        if resolution.policy is not None and held is None:
            due.append((room.room_id, *cutoffs(resolution.policy, at)))
    counts = await ctx.retention.count_expired(due)
    for p in plans:
        p.expired, p.media_expired = counts.get(p.room_id, (0, 0))
    return plans


def retention_state(policy: Policy) -> dict[str, int]:
    state = {"max_lifetime": int(policy.message_lifetime.total_seconds() * 1000)}
    if policy.min_age:
        state["min_lifetime"] = int(policy.min_age.total_seconds() * 1000)
    return state


async def announce(
    ctx: BotContext,
    room_id: RoomID,
    kind: str,
    policy: Policy,
    known_state: str | None,
    known_notice: str | None,
    result: SweepResult | None = None,
) -> None:
    """Keep the room's retention state and its visible notice in line with the policy."""
    state = retention_state(policy)
    encoded = ",".join(f"{k}={v}" for k, v in sorted(state.items()))
    # "denied:…": the bot may not set state there; try again only when the policy changes.
    if known_state not in (encoded, f"denied:{encoded}"):
        ok = await ctx.matrix.set_room_state(room_id, "m.room.retention", state)
        await ctx.retention.set_room_flags(room_id, retention_state=encoded if ok else f"denied:{encoded}")
        # A client's own 1:1 chat is theirs: no admin can give the bot power there.
        if not ok and result is not None and kind not in ("intake", "direct"):
            result.state_refused[kind] += 1
    if not ctx.settings.retention.notices or kind in ("intake",):
        return  # the intake's consent notice already names the period
    notice_id = notice_of(policy)
    if known_notice == notice_id:
        return
    language = await room_language(ctx, room_id, kind)
    text = ctx.catalog.text(
        language,
        "retention.notice",
        period=human_period(ctx, language, policy.message_lifetime),
    )
    if await ctx.matrix.send_text(room_id, text, txn_id_for(room_id, "retention-notice", notice_id)):
        await ctx.retention.set_room_flags(room_id, policy_notice=notice_id)


def notice_of(policy: Policy) -> str:
    """What a room was told about its retention: a change of either part is told again."""
    return f"{policy.name}:{format_duration(policy.message_lifetime)}"


async def period_told(ctx: BotContext, room_id: RoomID, kind: str) -> None:
    """Another message already told the room its period (the counselling room's welcome):
    the sweep's notice would repeat it."""
    assignments = await ctx.retention.assignments()
    resolution = resolve(room_id, kind, ctx.policies.current, assignments, await room_refs(ctx, room_id))
    if resolution.policy is not None:
        await ctx.retention.set_room_flags(room_id, policy_notice=notice_of(resolution.policy))


async def lift_server_retention(ctx: BotContext, room_id: RoomID, known_state: str | None) -> None:
    if known_state in (None, "held") or (known_state or "").startswith("denied:"):
        return
    if await ctx.matrix.set_room_state(room_id, "m.room.retention", {}):
        await ctx.retention.set_room_flags(room_id, retention_state="held")


async def room_language(ctx: BotContext, room_id: RoomID, kind: str) -> str:
    if kind == "consultation":
        intake = await ctx.consent.intake_by_consultation(room_id)
        if intake is not None:
            return await ctx.state.language(intake.subject) or ctx.catalog.default_language
    return ctx.catalog.default_language


def human_period(ctx: BotContext, language: str, period: dt.timedelta) -> str:
    days = period.total_seconds() / 86400
    if days >= 1 and days == int(days):
        return ctx.catalog.text(language, "period.days", n=str(int(days)))
    hours = period.total_seconds() / 3600
    if hours >= 1 and hours == int(hours):
        return ctx.catalog.text(language, "period.hours", n=str(int(hours)))
    return ctx.catalog.text(language, "period.seconds", n=str(int(period.total_seconds())))


async def scheduled_sweep(ctx: BotContext) -> SweepResult | None:
    """The periodic sweep; skipped while an admin's sweep runs (the next interval catches up)."""
    if ctx.sweep_lock.locked():
        log.info("retention sweep skipped: another sweep is running")
        return None
    async with ctx.sweep_lock:
        return await sweep(ctx)


async def clock_ahead_ms(ctx: BotContext) -> int:
    """How far this machine's clock is ahead of the homeserver's (0 if not, or unknown)."""
    server = await ctx.matrix.server_time_ms()
    if server is None:
        return 0
    return max(0, now_ms(ctx) - server)


async def sweep(ctx: BotContext, trigger: str = "schedule") -> SweepResult:
    result = SweepResult()
    if not ctx.policies.loaded:
        log.warning("no valid retention policies loaded; nothing is deleted")
        ctx.metrics.sweep("no_policies")
        return result
    ahead = await clock_ahead_ms(ctx)
    if ahead > ctx.settings.retention.max_clock_ahead_minutes * 60_000:
        # Deleting by a clock that jumped forward would delete early: nothing today.
        log.error(
            "retention sweep stopped: the local clock is %d minutes ahead of the homeserver's",
            ahead // 60_000,
        )
        admin_room = ctx.admin_room()
        if admin_room is not None:
            text = ctx.catalog.text(
                ctx.catalog.default_language, "retention.clock_ahead", minutes=str(ahead // 60_000)
            )
            await ctx.matrix.send_text(
                admin_room, text, txn_id_for("clock-ahead", str(now_ms(ctx) // 3_600_000))
            )
        ctx.metrics.sweep("clock_ahead")
        return result
    result.run = await ctx.retention.start_run(trigger)
    flags = {r.room_id: r for r in await ctx.retention.rooms()}
    for p in await plan(ctx):
        policy = p.resolution.policy
        if policy is None:
            continue
        row = flags.get(p.room_id)
        known_state = row.retention_state if row else None
        if p.held_until is not None:
            # The homeserver must not purge on its own either while the hold lasts.
            await lift_server_retention(ctx, p.room_id, known_state)
            continue
        notice = row.policy_notice if row else None
        await announce(ctx, p.room_id, p.kind, policy, known_state, notice, result)
        await sweep_room(ctx, p, policy, result)
    await ctx.retention.finish_run(
        result.run,
        redacted=result.redacted,
        media=result.media_deleted,
        failures=result.failures,
        retries=0,
        purges=result.purges,
    )
    ctx.metrics.sweep("ok", redacted=result.redacted, media=result.media_deleted, failures=result.failures)
    await alert_if_needed(ctx, result)
    await alert_state_refused(ctx, result)
    # Metadata must not outlive its purpose: after the evidence period, a redacted message's
    # row goes too.
    evidence_ms = ctx.settings.retention.evidence_days * 86_400_000
    forgotten = await ctx.retention.forget_redacted_before(now_ms(ctx) - evidence_ms)
    if forgotten:
        log.info("retention sweep %d: metadata of %d long-redacted messages deleted", result.run, forgotten)
    log.info(
        "retention sweep %d: %d redacted, %d media deleted, %d failures",
        result.run,
        result.redacted,
        result.media_deleted,
        result.failures,
    )
    return result


async def sweep_room(ctx: BotContext, p: RoomPlan, policy: Policy, result: SweepResult) -> None:
    at = now_ms(ctx)
    cut, media_cut = cutoffs(policy, at)
    reason = ctx.catalog.text(
        ctx.catalog.default_language,
        "retention.reason",
        policy=policy.name,
        period=format_duration(policy.message_lifetime),
    )
    redacted = media = failures = 0
    purged = await purge_where_nobody_reads(ctx, p, cut)
    if purged:
        redacted += purged
        result.purges += 1
    done, failed, held = await redact_expired(ctx, p.room_id, cut, reason)
    redacted += done
    if failed:
        failures += failed
        result.forbidden_rooms.add(p.room_id)
        result.survivors[p.kind] += failed
    if ctx.settings.homeserver.admin_api and not held:
        media_failed: set[EventID] = set()
        while True:
            batch = await ctx.retention.expired(p.room_id, media_cut, BATCH, media_failed, media=True)
            if not batch:
                break
            gone: list[EventID] = []
            for event in batch:
                outcomes = [
                    await delete_senders_media(ctx, p.room_id, event.sender, mxc, at) for mxc in event.media
                ]
                if MediaOutcome.FAILED in outcomes:
                    media_failed.add(event.event_id)
                else:  # done, or not this message's to delete: either way nothing left to do
                    gone.append(event.event_id)
                    media += outcomes.count(MediaOutcome.DELETED)
            if gone:
                await ctx.retention.mark_media_deleted(gone)
        failures += len(media_failed)
    # No purge after redactions in a room people are still in: Synapse's purge takes the
    # redaction events with it, and a member's client that had not synced them yet would keep
    # the messages for good.
    result.redacted += redacted
    result.media_deleted += media
    result.failures += failures
    if result.run is not None and (redacted or media or failures):
        await ctx.retention.add_room_result(
            result.run, p.kind, policy.name, redacted=redacted, media=media, failures=failures
        )


async def redact_expired(ctx: BotContext, room_id: RoomID, cut: int, reason: str) -> tuple[int, int, bool]:
    """Redact the room's expired events, oldest first, ``IN_FLIGHT`` at a time.

    Returns (redacted, refused, stopped by a legal hold). Each redaction looks for a hold right
    before it starts, as when they went one at a time; those already on their way (at most
    ``IN_FLIGHT - 1`` others) were on the wire when the admin acted.
    An event is marked redacted only after the homeserver confirmed it, a page at a time in one
    write; a sweep killed before the mark redacts it again under the same transaction ID."""
    slots = asyncio.Semaphore(IN_FLIGHT)
    confirmed: list[EventID] = []
    refused = redacted = 0
    held = False
    running: set[asyncio.Task[None]] = set()

    async def one(event_id: EventID) -> None:
        nonlocal refused, held
        try:
            # An admin may set a legal hold while the sweep runs: it binds before the next
            # redaction starts.
            if held or await ctx.consent.hold_until(room_id, now_ms(ctx)) is not None:
                held = True
                return
            if await ctx.matrix.redact(room_id, event_id, reason):
                confirmed.append(event_id)
            else:
                refused += 1
        finally:
            slots.release()

    async def mark() -> None:
        nonlocal redacted
        if confirmed:
            batch = confirmed[:]
            confirmed.clear()
            redacted += len(batch)
            await ctx.consent.mark_redacted(batch)

    after: tuple[int, str] | None = None
    last = False
    try:
        while not held and not last:
            # Paged by position, not by what is marked: refused events are passed over, and the
            # next page is read while the last redactions are still in flight.
            page = await ctx.retention.open_expired(room_id, cut, BATCH, after)
            if not page:
                break
            after, last = page[-1], len(page) < BATCH
            for _, event_id in page:
                await slots.acquire()
                if held:
                    slots.release()
                    break
                task = asyncio.create_task(one(event_id))
                running.add(task)
                task.add_done_callback(running.discard)
            await mark()
        await asyncio.gather(*running)
        if held:
            log.info("legal hold set during the sweep: %s left alone from now on", room_id)
    finally:
        for task in running:  # cancelled (shutdown): nothing half-done is marked
            task.cancel()
    await mark()
    return redacted, refused, held


async def purge_where_nobody_reads(ctx: BotContext, p: RoomPlan, cut: int) -> int | None:
    """Where nobody but the bot is in the room any more (joined or invited, as the homeserver
    says), no client would ever receive a redaction: one purge of the history before the cutoff
    (Synapse's admin API, thousands of events a second) does the work of one redaction per event.

    What is gone is then read back from the server: the events it still serves are listed, and
    only expired events it no longer serves (purged, or redacted already) are marked. Events the
    purge left (the one at the purge point) are redacted one by one afterwards, as anywhere.
    Returns how many were marked, or None where this path does not apply."""
    if not (ctx.settings.retention.purge_history and ctx.settings.homeserver.admin_api) or not p.expired:
        return None
    audience = await ctx.matrix.room_audience(p.room_id)
    if audience is None or audience - {ctx.matrix.user_id}:
        return None
    if await ctx.consent.hold_until(p.room_id, now_ms(ctx)) is not None:
        return None  # a hold set since the plan binds here too
    # A refused or empty purge is no reason to stop: the listing says what is gone either way
    # (a sweep killed after the purge and before the marks picks up here).
    await ctx.matrix.purge_history(p.room_id, cut)
    present = await ctx.matrix.served_events(p.room_id, LISTING_LIMIT)
    if present is None:
        log.warning("room %s: what a purge left could not be listed; redacting one by one", p.room_id)
        return None
    gone = 0
    after: tuple[int, str] | None = None
    while True:
        page = await ctx.retention.open_expired(p.room_id, cut, LISTING_PAGE, after)
        after = page[-1] if page else None
        missing = [event_id for _, event_id in page if event_id not in present]
        if missing:
            await ctx.consent.mark_redacted(missing)
            gone += len(missing)
        if len(page) < LISTING_PAGE:
            break
    log.info("room %s: nobody left in it; %d expired events purged on the server", p.room_id, gone)
    return gone


async def alert_state_refused(ctx: BotContext, result: SweepResult) -> None:
    """Once per room and policy (the "denied:" flag): what to change, in the admin room."""
    admin_room = ctx.admin_room()
    if admin_room is None or not result.state_refused:
        return
    language = ctx.catalog.default_language
    kinds = ", ".join(
        f"{n} × {ctx.catalog.text(language, f'kind.{kind}')}"
        for kind, n in sorted(result.state_refused.items())
    )
    text = ctx.catalog.text(language, "retention.state_refused", rooms=kinds)
    await ctx.matrix.send_text(admin_room, text, txn_id_for(f"state-refused:{result.run}", admin_room))


async def alert_if_needed(ctx: BotContext, result: SweepResult) -> None:
    admin_room = ctx.admin_room()
    signature = ",".join(f"{k}={v}" for k, v in sorted(result.survivors.items()))
    # Say it when it changes, not every hour: a standing problem is in the report anyway.
    if admin_room is None or not result.survivors or await ctx.state.get("retention_alert") == signature:
        if not result.survivors:
            await ctx.state.delete("retention_alert")
        return
    await ctx.state.put("retention_alert", signature)
    language = ctx.catalog.default_language
    lines = [ctx.catalog.text(language, "retention.alert", run=str(result.run))]
    for kind, n in sorted(result.survivors.items()):
        lines.append(
            ctx.catalog.text(
                language, "retention.alert.line", kind=ctx.catalog.text(language, f"kind.{kind}"), n=str(n)
            )
        )
    lines.append(ctx.catalog.text(language, "retention.alert.hint"))
    await ctx.matrix.send_text(admin_room, "\n".join(lines), txn_id_for(f"alert:{result.run}", admin_room))
