"""A store filled with a few weeks of counselling metadata, for the statistics tests.

Every identifier and exact timestamp that goes in is collected, so tests can check that none
of them comes out in a report.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.context import BotContext
from bot.ids import EventID, RoomID, UserID
from bot.stats.periods import Period, parse_period
from bot.store.consent import EventMeta

BERLIN = ZoneInfo("Europe/Berlin")
PERIOD = parse_period("2026-W47")  # Monday 16 to Sunday 22 November 2026
CLIENTS = [UserID(f"@klient{i}:example.org") for i in range(8)]
WORKERS = [UserID(f"@sozial{i}:example.org") for i in range(3)]
OUTSIDER = UserID("@fremd:example.org")  # neither client nor worker: not counted
ROOMS = [RoomID(f"!beratung{i}:example.org") for i in range(8)]
INTAKE_ROOMS = [RoomID(f"!aufnahme{i}:example.org") for i in range(8)]
TEAM = RoomID("!team:example.org")


@dataclass
class Filled:
    users: list[str] = field(default_factory=list)
    rooms: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)


def ms(period: Period, day: int, hour: int, minute: int = 0, extra_ms: int = 0) -> int:
    local = dt.datetime.combine(period.start + dt.timedelta(days=day), dt.time(hour, minute), BERLIN)
    return int(local.timestamp() * 1000) + extra_ms


async def fill(ctx: BotContext) -> Filled:
    """W47: 8 rooms, each with a client request (two messages) answered by one of 3 workers the
    same morning; consents: 7 asked, 4 given, 3 declined, 1 withdrawn; 3 access and 1 erasure request;
    one retention run. W45 and W46 have smaller activity, for the trend."""
    out = Filled()
    out.users = [*CLIENTS, *WORKERS, OUTSIDER, ctx.matrix.user_id]
    out.rooms = [*ROOMS, *INTAKE_ROOMS, TEAM]
    db = ctx.consent.db
    intakes = []
    for i, (client, room, intake_room) in enumerate(zip(CLIENTS, ROOMS, INTAKE_ROOMS, strict=True)):
        await ctx.state.set_room_kind(room, "consultation")
        await ctx.state.set_room_kind(intake_room, "intake")
        intake = await ctx.consent.create_intake(
            intake_room,
            ctx.subject(client),
            worker=ctx.subject(WORKERS[i % 3]),
            notify_room=TEAM,
            state="active",
        )
        intakes.append(intake)
    await ctx.state.set_room_kind(TEAM, "team")
    for worker in WORKERS:
        await ctx.consent.append(
            subject=ctx.subject(worker),
            scope="worker_rules",
            purpose="employment",
            notice_version="v1",
            language="de",
            decision="acknowledged",
            method="command",
        )

    metas: list[EventMeta] = []

    def event(room: RoomID, who: UserID, ts: int, kind: str = "m.room.message") -> None:
        event_id = EventID(f"$ev{len(metas)}-{ts}:example.org")
        metas.append(EventMeta(event_id, room, ctx.subject(who), ts, kind, ()))
        out.events.append(event_id)
        out.timestamps.append(ts)

    week = PERIOD
    for i, room in enumerate(ROOMS):
        client, worker = CLIENTS[i], WORKERS[i % 3]
        event(room, client, ms(week, 1, 9, i, 123 + i))  # Tuesday, a request …
        event(room, client, ms(week, 1, 9, 30 + i, 456), "m.room.encrypted")  # … and a follow-up
        event(room, worker, ms(week, 1, 10, 2 * i, 789))  # answered within the hour
        event(room, ctx.matrix.user_id, ms(week, 1, 10, 40, 11 + i))  # the bot: not counted
    event(ROOMS[0], OUTSIDER, ms(week, 2, 12, 0, 5))  # unknown sender: not counted
    event(ROOMS[1], CLIENTS[1], ms(week, 2, 12, 1, 6), "m.reaction")  # not a message
    event(TEAM, WORKERS[0], ms(week, 2, 12, 2, 7))  # not a consultation room
    for back, n in ((1, 4), (2, 3)):  # W46: 4 rooms, W45: 3 rooms
        earlier = week
        for _ in range(back):
            earlier = earlier.previous()
        for i in range(n):
            event(ROOMS[i], CLIENTS[i], ms(earlier, 2, 14, i, 321))
            event(ROOMS[i], WORKERS[i % 3], ms(earlier, 3, 9, i, 654))
    # The consent question, shown to the seven who then decided (Monday morning).
    for n, intake in enumerate(intakes[:7]):
        event(intake.room_id, ctx.matrix.user_id, ms(week, 0, 8, n, 31 + n))
        await ctx.consent.update_intake(intake.intake_id, question_event=metas[-1].event_id)
    await ctx.consent.record_events(metas)

    async def consent(client: UserID, decision: str, ts: int, n: int) -> None:
        event_id = f"$consent{n}-{ts}:example.org"
        await db.write(
            "INSERT INTO consent_log (subject, scope, purpose, notice_version, language, decision, method,"
            " actor, event_id, recorded_at) VALUES (?, 'client', 'counselling', 'v1', 'de', ?, 'number',"
            " NULL, ?, ?)",
            (ctx.subject(client), decision, event_id, ts),
        )
        out.events.append(event_id)
        out.timestamps.append(ts)

    decisions = ["given"] * 4 + ["declined"] * 3 + ["withdrawn"]
    for n, (client, decision) in enumerate(zip(CLIENTS, decisions, strict=True)):
        await consent(client, decision, ms(week, 0, 8, 10 + n, 17 * n + 1), n)

    rights = [("access", 0, 2, 35), ("access", 1, 3, 7), ("access", 2, 2, 44), ("erasure", 3, 4, 13)]
    for n, (kind, who, day, minute) in enumerate(rights):
        requested = ms(week, day, 11, minute, 901 + n)
        served = requested + (n + 1) * 3_600_000 + 77
        await db.write(
            "INSERT INTO rights_request (kind, subject, requested_at, served_at) VALUES (?, ?, ?, ?)",
            (kind, ctx.subject(CLIENTS[who]), requested, served),
        )
        out.timestamps += [requested, served]

    started = ms(week, 6, 3, 0, 42)
    await db.write(
        "INSERT INTO retention_run (started_at, finished_at, trigger, redacted, media_deleted, failures)"
        " VALUES (?, ?, 'schedule', 9, 2, 1)",
        (started, started + 5_000),
    )
    out.timestamps += [started, started + 5_000]
    return out


def identifiers(ctx: BotContext, filled: Filled, labels: list[str]) -> list[str]:
    """Every string that would identify a person, room, event or moment, in any form the store
    or the statistics use."""
    found: list[str] = [*filled.users, *filled.rooms, *filled.events, *map(str, filled.timestamps)]
    for user in filled.users:
        found += [ctx.subject(UserID(user)), ctx.log_tag(UserID(user))]
    for label in labels:
        tag = ctx.pseudonyms.derive(f"stats:{label}")
        found += [tag(s) for s in (*(ctx.subject(UserID(u)) for u in filled.users), *filled.rooms)]
    # Localparts alone, and the seconds of every timestamp, would identify just as well.
    found += [u.split(":")[0] for u in filled.users] + [r.split(":")[0] for r in filled.rooms]
    found += [str(ts // 1000) for ts in filled.timestamps]
    return found
