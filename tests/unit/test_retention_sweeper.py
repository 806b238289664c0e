"""bot/retention/sweeper.py, report.py and service.py on a real store, a recording homeserver
and a clock the test sets."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.context import BotContext
from bot.ids import EventID, RoomID, UserID
from bot.matrix.events import Recorded
from bot.retention import report, service
from bot.retention.policy import PolicyHolder
from bot.retention.sweeper import IN_FLIGHT, period_told, plan, sweep
from bot.store.consent import EventMeta
from bot.store.db import Database
from tests.unit.retention_fakes import (
    ADMIN_ROOM,
    T_MS,
    RecordingMatrix,
    T,
    add_events,
    mxc_of,
    retention_context,
    tiny_policies,
)

C = RoomID("!consult:example.org")  # consultation: kurz, 10s, media 5s
L = RoomID("!lead:example.org")  # leadership: pflicht, 10s but at least 60s
H = RoomID("!team:example.org")  # team: kurz, under a legal hold in some tests
DAY_MS = 86_400_000


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[BotContext, RecordingMatrix, Database]]:
    ctx, matrix, db = await retention_context(tmp_path)
    for room, kind in ((C, "consultation"), (L, "leadership"), (H, "team")):
        await ctx.state.set_room_kind(room, kind)
    try:
        yield ctx, matrix, db
    finally:
        await db.close()


def de(ctx: BotContext, key: str, **values: str) -> str:
    return ctx.catalog.text("de", key, **values)


async def open_events(db: Database, room: RoomID) -> set[EventID]:
    rows = await db.fetchall(
        "SELECT event_id FROM event_meta WHERE room_id = ? AND redacted_at IS NULL", (room,)
    )
    return {EventID(r[0]) for r in rows}


async def event_rows(db: Database) -> list[tuple[object, ...]]:
    rows = await db.fetchall("SELECT * FROM event_meta ORDER BY event_id")
    return [tuple(r) for r in rows]


async def runs(db: Database) -> list[dict[str, object]]:
    return [dict(r) for r in await db.fetchall("SELECT * FROM retention_run ORDER BY seq")]


async def run_rooms(db: Database, run: int) -> set[tuple[object, ...]]:
    rows = await db.fetchall(
        "SELECT room_kind, policy, redacted, media_deleted, failures FROM retention_run_room WHERE run = ?",
        (run,),
    )
    return {tuple(r) for r in rows}


# --- what is deleted -----------------------------------------------------------------------


async def test_only_expired_events_are_redacted(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, matrix, db = env
    [old_media] = await add_events(ctx, C, 20, media=True)
    [old_text] = await add_events(ctx, C, 11)
    at_limit, young = await add_events(ctx, C, 10, 2)
    [protected] = await add_events(ctx, L, 30)  # older than max_age, younger than min_age
    [expired] = await add_events(ctx, L, 61)

    result = await sweep(ctx)

    assert sorted(matrix.redacted) == sorted([(C, old_media), (C, old_text), (L, expired)])
    assert result.redacted == 3
    assert result.failures == 0
    assert await open_events(db, C) == {at_limit, young}
    assert await open_events(db, L) == {protected}
    assert matrix.texts_to(ADMIN_ROOM) == []  # nothing to alert about


async def test_only_the_senders_own_uploads_are_deleted(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    """A message's media URL is the sender's word: a client who posts a colleague's avatar as an
    image does not get it deleted, nor a file still needed in a room under a legal hold."""
    ctx, matrix, _ = env
    [mine] = await add_events(ctx, C, 20, media=True)
    [forged] = await add_events(ctx, C, 20, media=True)
    avatar = mxc_of(forged)
    matrix.uploaders[avatar] = UserID("@kollegin:example.org")  # not the sender's upload
    [shared] = await add_events(ctx, C, 20, media=True)
    await ctx.consent.record_events(
        [EventMeta(EventID("$held-ref"), H, "x", T_MS - 1000, "m.room.message", (mxc_of(shared),))]
    )
    await ctx.consent.set_hold(H, T_MS + DAY_MS, "admin")
    result = await sweep(ctx)
    assert matrix.deleted_media == [mxc_of(mine)]
    assert result.media_deleted == 1 and result.failures == 0
    # Nothing to retry: those files were never this message's to delete.
    await sweep(ctx)
    assert matrix.deleted_media == [mxc_of(mine)]


async def test_a_hold_set_during_a_sweep_binds_before_the_next_redaction(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    """A few redactions are in flight at once; a hold set meanwhile binds every one not yet
    started (those already on their way were on the wire when the admin acted)."""
    ctx, matrix, db = env
    events = await add_events(ctx, C, *range(20, 40), media=True)
    original = matrix.redact

    async def redact_then_hold(room: RoomID, event: EventID, reason: str) -> bool:
        ok = await original(room, event, reason)
        await ctx.consent.set_hold(C, T_MS + DAY_MS, "admin")  # the admin acts meanwhile
        return ok

    matrix.redact = redact_then_hold  # type: ignore[method-assign]
    result = await sweep(ctx)
    assert 1 <= result.redacted == len(matrix.redacted) <= IN_FLIGHT
    assert matrix.deleted_media == []  # its files are held too
    assert len(await open_events(db, C)) == len(events) - result.redacted


async def test_media_expire_on_their_own(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, matrix, db = env
    [old] = await add_events(ctx, C, 20, media=True)  # message and file expired
    [mid] = await add_events(ctx, C, 7, media=True)  # only the file expired
    [young] = await add_events(ctx, C, 2, media=True)  # nothing expired
    [protected] = await add_events(ctx, L, 30, media=True)  # min_age protects files too

    result = await sweep(ctx)

    assert sorted(matrix.deleted_media) == sorted([mxc_of(old), mxc_of(mid)])
    assert result.media_deleted == 2
    assert matrix.redacted == [(C, old)]
    assert await open_events(db, C) == {mid, young}
    rows = await db.fetchall("SELECT event_id FROM event_meta WHERE media_deleted_at IS NOT NULL")
    assert {r[0] for r in rows} == {old, mid}
    assert protected in await open_events(db, L)


async def test_legal_hold_leaves_the_room_alone(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, matrix, db = env
    held = await add_events(ctx, H, 100, 20, media=True)
    [other] = await add_events(ctx, C, 20)
    await ctx.consent.set_hold(H, T_MS + DAY_MS, "admin")

    result = await sweep(ctx)

    assert matrix.redacted == [(C, other)]
    assert result.redacted == 1
    assert not any(room == H for room, _ in matrix.redacted)
    assert matrix.deleted_media == []
    assert await open_events(db, H) == set(held)
    [held_plan] = [p for p in await plan(ctx) if p.room_id == H]
    assert held_plan.held_until == T_MS + DAY_MS
    assert (held_plan.expired, held_plan.media_expired) == (0, 0)

    # When the hold has ended, the room is swept like any other.
    ctx.clock = lambda: T + 2 * 86400
    await sweep(ctx)
    assert await open_events(db, H) == set()
    assert sorted(matrix.deleted_media) == sorted(mxc_of(e) for e in held)


async def test_a_hold_that_ended_protects_nothing(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, _, db = env
    await add_events(ctx, H, 100)
    await ctx.consent.set_hold(H, T_MS - 1, "admin")
    await sweep(ctx)
    assert await open_events(db, H) == set()


async def test_held_room_gets_no_retention_state(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, matrix, _ = env
    await add_events(ctx, H, 100)
    await ctx.consent.set_hold(H, T_MS + DAY_MS, "admin")
    await sweep(ctx)
    assert all("max_lifetime" not in content for content in matrix.retention_state(H))


async def test_second_sweep_redacts_nothing_more(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, matrix, db = env
    await add_events(ctx, C, 20, 7, 2, media=True)
    await add_events(ctx, L, 61, 30)
    first = await sweep(ctx)
    assert (first.redacted, first.media_deleted) == (2, 2)
    redacted, media, sent, state = (
        list(matrix.redacted),
        list(matrix.deleted_media),
        list(matrix.sent),
        list(matrix.state),
    )
    second = await sweep(ctx)
    assert (second.redacted, second.media_deleted, second.failures) == (0, 0, 0)
    assert (matrix.redacted, matrix.deleted_media, matrix.sent, matrix.state) == (
        redacted,
        media,
        sent,
        state,
    )
    assert second.run is not None and first.run is not None and second.run > first.run
    assert await run_rooms(db, second.run) == set()  # nothing happened, so nothing per kind


async def test_refused_redaction_is_a_failure_retried_and_alerted(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, matrix, db = env
    refused = await add_events(ctx, C, 20, 30)
    [fine] = await add_events(ctx, L, 61)
    matrix.refuse_redaction_in = {C}

    first = await sweep(ctx)

    assert (first.redacted, first.failures) == (1, 2)
    assert matrix.redacted == [(L, fine)]
    assert await open_events(db, C) == set(refused)
    alert = "\n".join(
        [
            de(ctx, "retention.alert", run=str(first.run)),
            de(ctx, "retention.alert.line", kind=de(ctx, "kind.consultation"), n="2"),
            de(ctx, "retention.alert.hint"),
        ]
    )
    assert matrix.texts_to(ADMIN_ROOM) == [alert]
    assert "Beratung" in alert

    # The homeserver lets the bot redact again: the next sweep removes what was left.
    matrix.refuse_redaction_in = set()
    second = await sweep(ctx)
    assert (second.redacted, second.failures) == (2, 0)
    assert sorted(matrix.redacted) == sorted([(L, fine), *((C, e) for e in refused)])
    assert await open_events(db, C) == set()
    assert matrix.texts_to(ADMIN_ROOM) == [alert]  # no new alert

    recorded = await runs(db)
    assert [(r["redacted"], r["failures"]) for r in recorded] == [(1, 2), (2, 0)]
    assert first.run is not None
    assert await run_rooms(db, first.run) == {
        ("consultation", "kurz", 0, 0, 2),
        ("leadership", "pflicht", 1, 0, 0),
    }


async def test_refused_media_deletion_is_a_failure_and_retried(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, matrix, _ = env
    [event] = await add_events(ctx, C, 7, media=True)
    matrix.refuse_media = {mxc_of(event)}
    first = await sweep(ctx)
    assert (first.media_deleted, first.failures) == (0, 1)
    assert matrix.deleted_media == []
    matrix.refuse_media = set()
    second = await sweep(ctx)
    assert (second.media_deleted, second.failures) == (1, 0)
    assert matrix.deleted_media == [mxc_of(event)]


# --- what the room is told -----------------------------------------------------------------


async def test_retention_state_is_set_once_in_ms(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, matrix, _ = env
    await sweep(ctx)
    await sweep(ctx)
    assert matrix.retention_state(C) == [{"max_lifetime": 10_000}]
    assert matrix.retention_state(L) == [{"max_lifetime": 60_000, "min_lifetime": 60_000}]
    assert matrix.retention_state(ADMIN_ROOM) == []  # not a room the bot registered
    flags = {r.room_id: r for r in await ctx.retention.rooms()}
    assert flags[C].retention_state == "max_lifetime=10000"


async def test_denied_state_is_not_retried_until_the_policy_changes(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, matrix, _ = env
    matrix.deny_state = {C}
    await sweep(ctx)
    await sweep(ctx)
    assert matrix.denied_state == [(C, "m.room.retention", {"max_lifetime": 10_000})]
    assert matrix.retention_state(C) == []
    await ctx.retention.assign(C, "lang", "admin")
    matrix.deny_state = set()
    await sweep(ctx)
    assert matrix.retention_state(C) == [{"max_lifetime": 86_400_000}]


async def test_refused_state_is_told_to_the_admin_once_with_what_to_change(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, matrix, _ = env
    intake = RoomID("!client-made:example.org")
    await ctx.state.set_room_kind(intake, "intake")
    matrix.deny_state = {C, intake}
    await sweep(ctx)
    await sweep(ctx)
    told = [t for t in matrix.texts_to(ADMIN_ROOM) if "Stufe 100" in t]
    # One consultation room; a client's own 1:1 chat is not the admin's to fix.
    assert told == [de(ctx, "retention.state_refused", rooms=f"1 × {de(ctx, 'kind.consultation')}")]


async def test_a_room_told_its_period_by_the_welcome_gets_no_second_notice(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, matrix, _ = env
    await period_told(ctx, C, "consultation")
    await sweep(ctx)
    assert matrix.texts_to(C) == []
    # A new policy is news again.
    await ctx.retention.assign(C, "lang", "admin")
    await sweep(ctx)
    assert matrix.texts_to(C) == [de(ctx, "retention.notice", period=de(ctx, "period.days", n="1"))]


async def test_notice_is_posted_once_per_policy_change(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, matrix, _ = env
    ten_seconds = de(ctx, "retention.notice", period=de(ctx, "period.seconds", n="10"))
    await sweep(ctx)
    await sweep(ctx)
    assert matrix.texts_to(C) == [ten_seconds]

    await ctx.retention.assign(C, "lang", "admin")
    await sweep(ctx)
    await sweep(ctx)
    one_day = de(ctx, "retention.notice", period=de(ctx, "period.days", n="1"))
    assert matrix.texts_to(C) == [ten_seconds, one_day]
    assert matrix.retention_state(C) == [{"max_lifetime": 10_000}, {"max_lifetime": 86_400_000}]


async def test_intake_rooms_get_state_but_no_notice(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, matrix, _ = env
    intake = RoomID("!intake:example.org")
    await ctx.state.set_room_kind(intake, "intake")
    await sweep(ctx)
    assert matrix.texts_to(intake) == []
    assert matrix.retention_state(intake) == [{"max_lifetime": 10_000}]


async def test_notices_can_be_switched_off(tmp_path: Path) -> None:
    ctx, matrix, db = await retention_context(tmp_path, retention={"notices": False})
    try:
        await ctx.state.set_room_kind(C, "consultation")
        await sweep(ctx)
        assert matrix.texts_to(C) == []
        assert matrix.retention_state(C) == [{"max_lifetime": 10_000}]
    finally:
        await db.close()


async def test_purge_history_up_to_the_cutoff_where_nobody_is_left(tmp_path: Path) -> None:
    ctx, matrix, db = await retention_context(tmp_path, retention={"purge_history": True})
    try:
        for room, kind in ((C, "consultation"), (L, "leadership")):
            await ctx.state.set_room_kind(room, kind)
            matrix.audience[room] = {ctx.matrix.user_id}
            matrix.served[room] = set()
        await add_events(ctx, C, 20)
        await add_events(ctx, L, 30)  # protected: nothing expired, so nothing purged
        result = await sweep(ctx)
        assert matrix.purged == [(C, T_MS - 10_000)]
        assert result.purges == 1
    finally:
        await db.close()


async def test_redactions_go_a_few_at_a_time_and_pass_over_refusals(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    """At most IN_FLIGHT redactions are on their way at once (each keeps Synapse busy for tens
    of milliseconds, and answers queue behind them); one the server refuses does not hold up
    the others, and the events are marked redacted once the server confirmed them."""
    ctx, matrix, db = env
    events = await add_events(ctx, C, *range(20, 20 + 450))
    refused = set(events[::100])
    original = matrix.redact
    flying = most = 0

    async def slow(room: RoomID, event: EventID, reason: str) -> bool:
        nonlocal flying, most
        flying += 1
        most = max(most, flying)
        await asyncio.sleep(0.001)
        flying -= 1
        return False if event in refused else await original(room, event, reason)

    matrix.redact = slow  # type: ignore[method-assign]
    result = await sweep(ctx)
    assert most == IN_FLIGHT
    assert (result.redacted, result.failures) == (len(events) - len(refused), len(refused))
    assert await open_events(db, C) == refused
    assert len(matrix.redacted) == len(set(matrix.redacted))  # none twice


# --- rooms nobody reads any more: purged instead of redacted event by event ----------------


async def _purge_env(tmp_path: Path) -> tuple[BotContext, RecordingMatrix, Database]:
    ctx, matrix, db = await retention_context(tmp_path, retention={"purge_history": True})
    for room, kind in ((C, "consultation"), (H, "team")):
        await ctx.state.set_room_kind(room, kind)
    return ctx, matrix, db


async def _on_server(ctx: BotContext, matrix: RecordingMatrix, room: RoomID, *ages: float) -> list[EventID]:
    events = await add_events(ctx, room, *ages)
    for event, age in zip(events, ages, strict=True):
        matrix.served.setdefault(room, set()).add(event)
        matrix.event_ts[event] = T_MS - int(age * 1000)
    return events


async def test_a_room_nobody_is_left_in_is_purged_not_redacted_event_by_event(tmp_path: Path) -> None:
    ctx, matrix, db = await _purge_env(tmp_path)
    try:
        expired = await _on_server(ctx, matrix, C, *range(20, 320))
        young = await _on_server(ctx, matrix, C, 5)
        # The purge point's own event stays on the server (Synapse keeps it): redacted instead.
        [kept] = await add_events(ctx, C, 15)
        matrix.served[C].add(kept)
        matrix.event_ts[kept] = T_MS  # as if received later than its own clock says
        matrix.audience[C] = {ctx.matrix.user_id}

        result = await sweep(ctx)

        assert matrix.purged == [(C, T_MS - 10_000)]
        assert matrix.redacted == [(C, kept)]  # nothing else one by one
        assert result.redacted == len(expired) + 1 and result.purges == 1 and result.failures == 0
        assert await open_events(db, C) == set(young)
        assert (await runs(db))[-1]["redacted"] == len(expired) + 1
    finally:
        await db.close()


async def test_a_room_with_anyone_left_or_invited_is_redacted_event_by_event(tmp_path: Path) -> None:
    """Members still in the room (or invited to it) hold the messages in their clients: only a
    redaction makes their clients drop them."""
    ctx, matrix, db = await _purge_env(tmp_path)
    try:
        expired = await _on_server(ctx, matrix, C, 20, 21, 22)
        matrix.audience[C] = {ctx.matrix.user_id, UserID("@eingeladen:example.org")}
        result = await sweep(ctx)
        assert sorted(e for _, e in matrix.redacted) == sorted(expired)
        assert result.redacted == 3
        # And no purge afterwards: it would take the redaction events with it, before every
        # member's client has seen them.
        assert matrix.purged == [] and result.purges == 0
        # An unknown audience (the server did not answer) is treated the same way.
        more = await _on_server(ctx, matrix, C, 23)
        del matrix.audience[C]
        await sweep(ctx)
        assert (C, more[0]) in matrix.redacted and matrix.purged == []
    finally:
        await db.close()


async def test_a_purge_marks_only_what_the_server_no_longer_serves(tmp_path: Path) -> None:
    """A refused purge (or one that left events) marks nothing it did not remove: what the
    server still serves is redacted one by one; a hold keeps the room untouched."""
    ctx, matrix, db = await _purge_env(tmp_path)
    try:
        events = await _on_server(ctx, matrix, C, 20, 21)
        matrix.audience[C] = {ctx.matrix.user_id}

        async def refused(room_id: RoomID, up_to_ms: int) -> bool:
            matrix.purged.append((room_id, up_to_ms))
            return False

        matrix.purge_history = refused  # type: ignore[method-assign]
        result = await sweep(ctx)
        assert sorted(e for _, e in matrix.redacted) == sorted(events)
        assert result.redacted == 2 and await open_events(db, C) == set()

        held = await _on_server(ctx, matrix, H, 20, 21)
        matrix.audience[H] = {ctx.matrix.user_id}
        await ctx.consent.set_hold(H, T_MS + DAY_MS, "admin")
        await sweep(ctx)
        assert all(room != H for room, _ in matrix.purged)
        assert await open_events(db, H) == set(held)
    finally:
        await db.close()


# --- dry run and evidence ------------------------------------------------------------------


async def test_dry_run_predicts_the_sweep_and_changes_nothing(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, matrix, db = env
    await add_events(ctx, C, 20, 7, 2, media=True)
    await add_events(ctx, C, 11, 3)
    await add_events(ctx, L, 61, 30, media=True)
    await add_events(ctx, L, 90)
    await add_events(ctx, H, 100, media=True)
    await ctx.consent.set_hold(H, T_MS + DAY_MS, "admin")
    before = await event_rows(db)

    plans = {p.room_id: p for p in await plan(ctx)}

    assert {room: (p.expired, p.media_expired) for room, p in plans.items()} == {
        C: (2, 2),
        L: (2, 1),
        H: (0, 0),
    }
    assert {room: p.resolution.policy and p.resolution.policy.name for room, p in plans.items()} == {
        C: "kurz",
        L: "pflicht",
        H: "kurz",
    }
    assert plans[H].held_until is not None
    assert (matrix.redacted, matrix.deleted_media, matrix.sent, matrix.state) == ([], [], [], [])
    assert await event_rows(db) == before
    assert await runs(db) == []

    result = await sweep(ctx)
    assert result.redacted == sum(p.expired for p in plans.values())
    assert result.media_deleted == sum(p.media_expired for p in plans.values())
    for room, p in plans.items():
        assert sum(1 for r, _ in matrix.redacted if r == room) == p.expired, room
    # Afterwards nothing is due any more.
    assert all((p.expired, p.media_expired) == (0, 0) for p in await plan(ctx))


async def test_runs_record_the_counts(env: tuple[BotContext, RecordingMatrix, Database]) -> None:
    ctx, _, db = env
    await add_events(ctx, C, 20, 7, media=True)
    await add_events(ctx, C, 30)
    await add_events(ctx, L, 61)
    result = await sweep(ctx, "command")
    [run] = await runs(db)
    assert run["seq"] == result.run
    assert run["trigger"] == "command"
    assert (run["redacted"], run["media_deleted"], run["failures"], run["purges"]) == (3, 2, 0, 0)
    assert run["finished_at"] is not None
    assert await run_rooms(db, run["seq"]) == {  # type: ignore[arg-type]
        ("consultation", "kurz", 2, 2, 0),
        ("leadership", "pflicht", 1, 0, 0),
    }


async def test_nothing_is_swept_without_loaded_policies(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, matrix, db = env
    await add_events(ctx, C, 20)
    ctx.policies = PolicyHolder(ctx.policies.directory)  # never loaded
    result = await sweep(ctx)
    assert result.run is None
    assert matrix.redacted == [] and matrix.state == []
    assert await runs(db) == []


# --- the report ----------------------------------------------------------------------------


async def test_report_counts_and_flags_overdue_rooms(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, matrix, _ = env
    await add_events(ctx, C, 20, 30, media=True)
    await add_events(ctx, C, 7, media=True)
    await add_events(ctx, L, 61, 30)
    await add_events(ctx, H, 100)
    await ctx.consent.set_hold(H, T_MS + DAY_MS, "admin")
    matrix.refuse_redaction_in = {C}  # C keeps messages older than its policy allows
    await sweep(ctx)

    built = await report.build(ctx, 30)
    lines = {line.kind: line for line in built.lines}
    assert built.runs == 1
    assert set(lines) == {"consultation", "leadership", "team"}

    consultation = lines["consultation"]
    assert (consultation.rooms, consultation.policies) == (1, {"kurz"})
    assert (consultation.redacted, consultation.media, consultation.failures) == (0, 3, 2)
    assert consultation.oldest_age is not None and consultation.oldest_age.total_seconds() == 30
    assert consultation.allowed is not None and consultation.allowed.total_seconds() == 10
    assert consultation.overdue

    leadership = lines["leadership"]
    assert (leadership.redacted, leadership.media, leadership.failures) == (1, 0, 0)
    assert leadership.oldest_age is not None and leadership.oldest_age.total_seconds() == 30
    assert leadership.allowed is not None and leadership.allowed.total_seconds() == 60
    assert not leadership.overdue

    team = lines["team"]
    assert (team.rooms, team.held, team.redacted) == (1, 1, 0)
    assert not team.overdue

    text = report.render(ctx, built, "de")
    sections = text.split("\n\n")
    assert sections[0] == de(ctx, "report.title", days="30", runs="1")
    [c_section] = [s for s in sections if s.startswith(de(ctx, "kind.consultation") + ":")]
    [l_section] = [s for s in sections if s.startswith(de(ctx, "kind.leadership") + ":")]
    [t_section] = [s for s in sections if s.startswith(de(ctx, "kind.team") + ":")]
    overdue = de(ctx, "report.overdue")
    assert overdue in c_section
    assert overdue not in l_section and overdue not in t_section
    assert de(ctx, "report.removed", redacted="0", media="3", failures="2") in c_section
    assert de(ctx, "report.removed", redacted="1", media="0", failures="0") in l_section
    assert de(ctx, "report.held", n="1") in t_section


# Both orders, so that neither "first room wins" nor "last room wins" passes.
@pytest.mark.parametrize(
    ("late", "fine"), [("!a:example.org", "!b:example.org"), ("!b:example.org", "!a:example.org")]
)
async def test_report_shows_the_worst_room_of_a_kind(
    env: tuple[BotContext, RecordingMatrix, Database], late: RoomID, fine: RoomID
) -> None:
    ctx, matrix, _ = env
    for room in (fine, late):
        await ctx.state.set_room_kind(room, "consultation")
    await add_events(ctx, fine, 2)
    await add_events(ctx, late, 40, 3)
    matrix.refuse_redaction_in = {late}
    await sweep(ctx)
    [line] = [line for line in (await report.build(ctx)).lines if line.kind == "consultation"]
    assert line.rooms == 3  # C, fine and late
    assert line.oldest_age is not None and line.oldest_age.total_seconds() == 40
    assert line.overdue


async def test_rooms_without_a_policy_are_kept_and_reported(tmp_path: Path) -> None:
    ctx, matrix, db = await retention_context(tmp_path)
    try:
        # A set without a default, in which nothing claims group rooms.
        ctx.policies = PolicyHolder(tiny_policies(tmp_path / "other", '[policy.x]\nmax_age = "1s"\n'))
        assert ctx.policies.reload() is None
        group = RoomID("!group:example.org")
        await ctx.state.set_room_kind(group, "group")
        [event] = await add_events(ctx, group, 1000)
        [p] = await plan(ctx)
        assert (p.resolution.policy, p.resolution.reason) == (None, "none")
        result = await sweep(ctx)
        assert result.redacted == 0
        assert matrix.redacted == [] and matrix.state == [] and matrix.texts_to(group) == []
        assert await open_events(db, group) == {event}
        [line] = (await report.build(ctx)).lines
        assert (line.kind, line.rooms, line.unmanaged) == ("group", 1, 1)
        assert de(ctx, "report.unmanaged", n="1") in report.render(ctx, await report.build(ctx), "de")
    finally:
        await db.close()


# --- start-up: snapshot, aliases, earlier history ------------------------------------------


async def test_start_falls_back_to_the_last_good_policies(tmp_path: Path) -> None:
    ctx, matrix, db = await retention_context(tmp_path)
    try:
        assert await service.load_at_start(ctx) is None
        good = set(ctx.policies.current.policies)
        stored = await ctx.state.get(service.SNAPSHOT)
        assert stored is not None and set(json.loads(stored)) == {"default.toml"}

        # The file is broken while the bot is down; after the restart the stored set applies.
        directory = ctx.policies.directory
        (directory / "default.toml").write_text('[policy.x]\nmax_age = "soon"\n', encoding="utf-8")
        ctx.policies = PolicyHolder(directory)
        error = await service.load_at_start(ctx)
        assert error is not None and (error.path.name, error.line) == ("default.toml", 2)
        assert ctx.policies.loaded
        assert set(ctx.policies.current.policies) == good
        [alert] = matrix.texts_to(ADMIN_ROOM)
        assert alert == de(ctx, "retention.policy_error", file="default.toml", line="2", reason=error.reason)
    finally:
        await db.close()


async def test_rooms_listed_by_alias_are_swept_by_that_policy(tmp_path: Path) -> None:
    ctx, matrix, db = await retention_context(tmp_path)
    try:
        text = ctx.policies.directory.joinpath("default.toml").read_text(encoding="utf-8")
        text += '\n[policy.alias]\nmax_age = "5s"\nrooms = ["#akut:example.org"]\n'
        ctx.policies.directory.joinpath("default.toml").write_text(text, encoding="utf-8")
        matrix.aliases = {"#akut:example.org": L}
        assert await service.reload(ctx) is None
        assert ctx.policy_rooms == {"#akut:example.org": L}
        await ctx.state.set_room_kind(L, "group")  # a kind without a documentation duty
        [event] = await add_events(ctx, L, 6)
        [p] = await plan(ctx)
        assert (p.resolution.policy and p.resolution.policy.name, p.resolution.reason) == ("alias", "listed")
        await sweep(ctx)
        assert matrix.redacted == [(L, event)]
    finally:
        await db.close()


async def test_backfill_records_earlier_history_once(tmp_path: Path) -> None:
    ctx, matrix, db = await retention_context(tmp_path)
    try:
        await service.register_rooms(ctx, [C, ADMIN_ROOM])
        assert await ctx.state.room_kind(C) == "group"
        assert await ctx.state.room_kind(ADMIN_ROOM) == "admin"
        old = Recorded(EventID("$old"), UserID("@a:example.org"), T_MS - 2 * 3600_000, "m.room.message")
        matrix.history = {C: [old]}
        assert await service.backfill(ctx) == 1
        assert await service.backfill(ctx) == 0
        assert await open_events(db, C) == {EventID("$old")}
        await sweep(ctx)  # group: standard, 1h
        assert matrix.redacted == [(C, EventID("$old"))]
    finally:
        await db.close()


async def test_a_documentation_duty_of_any_applying_policy_binds(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    """Assigned a short policy, a leadership room still keeps what its kind's min_age protects."""
    ctx, matrix, db = env
    await ctx.retention.assign(L, "kurz", "admin")  # 10s, but leadership rooms: min_age 60s
    [protected] = await add_events(ctx, L, 30)
    [expired] = await add_events(ctx, L, 61)
    [p] = [p for p in await plan(ctx) if p.room_id == L]
    assert p.resolution.policy is not None and p.resolution.policy.name == "kurz"
    assert p.resolution.policy.min_age == dt.timedelta(seconds=60)
    await sweep(ctx)
    assert (L, expired) in matrix.redacted and (L, protected) not in matrix.redacted
    assert protected in await open_events(db, L)


async def test_a_clock_that_jumped_ahead_deletes_nothing(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, matrix, db = env
    events = await add_events(ctx, C, 20, 30)
    matrix.server_time = T_MS - 3 * 3_600_000  # our clock is three hours ahead of the server's
    result = await sweep(ctx)
    assert result.run is None and matrix.redacted == []
    assert await open_events(db, C) == set(events)
    assert [t for t in matrix.texts_to(ADMIN_ROOM) if "180 Minuten vor" in t]
    matrix.server_time = T_MS - 60_000  # a minute is ordinary drift
    await sweep(ctx)
    assert len(matrix.redacted) == 2


async def test_metadata_of_redacted_messages_goes_after_the_evidence_period(
    env: tuple[BotContext, RecordingMatrix, Database],
) -> None:
    ctx, _, db = env
    old, recent = await add_events(ctx, C, 20, 21)
    await ctx.consent.mark_redacted([old, recent])
    evidence = ctx.settings.retention.evidence_days * DAY_MS
    await db.write("UPDATE event_meta SET redacted_at = ? WHERE event_id = ?", (T_MS - evidence - 1, old))
    await sweep(ctx)
    rows = {r[0] for r in await db.fetchall("SELECT event_id FROM event_meta WHERE room_id = ?", (C,))}
    assert old not in rows and recent in rows
