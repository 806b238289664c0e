"""Queries for the statistics: metadata in, plain activity values out."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.stats.aggregate import Activity, ConsentEvent, Message, RetentionRun, RightsRequest
from bot.store.consent import now_ms
from bot.store.db import Database

# How much earlier than the bot's record the homeserver may date the bot's next message.
CLOCK_SKEW_MS = 2_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class FrozenCell:
    figure: str
    raw: float | None  # the true value
    persons: int
    shown: float | None  # what reports show; None when hidden or nothing to show
    suppressed: bool
    unit: str


@dataclass(frozen=True)
class FrozenPeriod:
    period: str
    k: int
    epsilon: float | None
    demo_data: bool
    # (scope, cells) in report order; scope "" is the organisation, the others team rows.
    rows: list[tuple[str, dict[str, FrozenCell]]]


class StatsStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Freezing reads live data and then writes: one at a time, so two requests for the
        # same period cannot store two different versions of it.
        self.freezing = asyncio.Lock()
        # One e-mail run at a time: the scheduled one and one started by a delivery must not
        # send the same report twice.
        self.mailing = asyncio.Lock()

    def add_rights_request(
        self, kind: str, subject: str, requested_ms: int, served_ms: int | None = None
    ) -> asyncio.Future[None]:
        return self.db.write(
            "INSERT INTO rights_request (kind, subject, requested_at, served_at) VALUES (?, ?, ?, ?)",
            (kind, subject, requested_ms, now_ms() if served_ms is None else served_ms),
        )

    async def requests_of(self, subject: str) -> list[tuple[str, int, int | None]]:
        """(kind, requested, served) of one person's rights requests, oldest first."""
        rows = await self.db.fetchall(
            "SELECT kind, requested_at, served_at FROM rights_request WHERE subject = ? ORDER BY seq",
            (subject,),
        )
        return [(str(r[0]), int(r[1]), None if r[2] is None else int(r[2])) for r in rows]

    async def requests_since(self, subject: str, kind: str, since_ms: int) -> int:
        value = await self.db.fetchval(
            "SELECT COUNT(*) FROM rights_request WHERE subject = ? AND kind = ? AND requested_at >= ?",
            (subject, kind, since_ms),
        )
        return int(value or 0)

    async def includes_synthetic(self, lo_ms: int, hi_ms: int) -> bool:
        """Whether the demo's made-up history contributes to this span (the report says so)."""
        value = await self.db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM event_meta e JOIN room r ON r.room_id = e.room_id"
            " WHERE r.synthetic = 1 AND e.ts >= ? AND e.ts < ?)",
            (lo_ms, hi_ms),
        )
        return bool(value)

    async def messages(self, lo_ms: int, hi_ms: int, bot_subject: str) -> list[Message]:
        """The counted messages between two instants, oldest first; people as store pseudonyms.

        Read a day at a time: the store's one connection serves the bot's other work between
        the days, and no single query holds it for long. Rooms, people and teams are one string
        object each, however often they occur (a month has a million rows and a few thousand
        distinct values)."""
        clients = {r[0] for r in await self.db.fetchall("SELECT DISTINCT subject FROM intake")}
        workers = {
            r[0]
            for r in await self.db.fetchall(
                "SELECT worker FROM intake WHERE worker IS NOT NULL UNION"
                " SELECT subject FROM consent_log WHERE scope = 'worker_rules'"
            )
        }
        # A consultation belongs to the team room where its intake was started or claimed.
        room_team = {
            r[0]: r[1]
            for r in await self.db.fetchall(
                "SELECT i.consultation_room, i.notify_room FROM intake i JOIN room r"
                " ON r.room_id = i.notify_room WHERE r.kind = 'team' AND i.consultation_room IS NOT NULL"
                " ORDER BY i.intake_id"
            )
        }
        role = {s: "worker" for s in workers} | {s: "client" for s in clients}
        one: dict[str, str] = {}
        out: list[Message] = []
        for start in range(lo_ms, hi_ms, DAY_MS):
            rows = await self.db.fetchall(
                "SELECT e.room_id, e.sender, e.ts FROM event_meta e JOIN room r ON r.room_id = e.room_id"
                " WHERE r.kind = 'consultation'"
                " AND e.type IN ('m.room.message', 'm.room.encrypted', 'm.sticker')"
                " AND e.ts >= ? AND e.ts < ? AND e.sender != ? ORDER BY e.ts",
                (start, min(start + DAY_MS, hi_ms), bot_subject),
            )
            for room, sender, ts in rows:
                kind = role.get(sender)
                if kind is not None:
                    room = one.setdefault(room, room)
                    out.append(
                        Message(room, one.setdefault(sender, sender), kind, int(ts), room_team.get(room))
                    )
            await asyncio.sleep(0)  # the rows of a day are turned into messages at one go
        return out

    async def activity(
        self, lo_ms: int, hi_ms: int, bot_subject: str, messages: list[Message] | None = None
    ) -> Activity:
        """Everything between two instants; people appear as store pseudonyms. ``messages``:
        the period's messages when the caller has read them already (:meth:`messages`)."""
        if messages is None:
            messages = await self.messages(lo_ms, hi_ms, bot_subject)
        # A consultation belongs to the team room where its intake was started or claimed.
        team_rows = await self.db.fetchall(
            "SELECT i.subject, i.consultation_room, i.notify_room FROM intake i JOIN room r"
            " ON r.room_id = i.notify_room WHERE r.kind = 'team' ORDER BY i.intake_id"
        )
        subject_team = {r[0]: r[2] for r in team_rows}
        firsts = {
            (r[0], int(r[1]))
            for r in await self.db.fetchall(
                "SELECT subject, MIN(seq) FROM consent_log WHERE scope = 'client' AND decision = 'given'"
                " GROUP BY subject"
            )
        }
        # A withdrawal is honoured when the bot closed the client's counselling room: its
        # closing notice is the bot's first message there from the moment of the withdrawal
        # (a little earlier for the homeserver's clock). No room: nothing to close.
        consents = [
            ConsentEvent(
                r[1],
                r[2],
                int(r[3]),
                (r[1], int(r[0])) in firsts,
                subject_team.get(r[1]),
                None
                if r[2] != "withdrawn"
                else (int(r[3]) if not r[4] else None if r[5] is None else int(r[5])),
            )
            for r in await self.db.fetchall(
                "SELECT c.seq, c.subject, c.decision, c.recorded_at,"
                " EXISTS (SELECT 1 FROM intake i WHERE i.subject = c.subject"
                "   AND i.consultation_room IS NOT NULL),"
                " (SELECT MIN(e.ts) FROM event_meta e JOIN intake i ON i.consultation_room = e.room_id"
                "   WHERE i.subject = c.subject AND e.sender = ? AND e.ts >= c.recorded_at - ?"
                "   AND e.ts < ?)"
                " FROM consent_log c WHERE c.scope = 'client'"
                " AND c.decision IN ('given', 'declined', 'withdrawn')"
                " AND c.recorded_at >= ? AND c.recorded_at < ?",
                (bot_subject, CLOCK_SKEW_MS, hi_ms, lo_ms, hi_ms),
            )
        ]
        # Asked: the consent question was shown (its event, as the bot recorded it).
        consents += [
            ConsentEvent(r[0], "asked", int(r[1]), team=subject_team.get(r[0]))
            for r in await self.db.fetchall(
                "SELECT i.subject, MIN(e.ts) FROM intake i JOIN event_meta e ON e.event_id = i.question_event"
                " WHERE e.ts >= ? AND e.ts < ? GROUP BY i.subject, i.question_event",
                (lo_ms, hi_ms),
            )
        ]
        # An erasure is done when its receipt is complete (rooms under a legal hold or a
        # documentation duty, and refused redactions, finish later); an access request when
        # the export was sent.
        rights = [
            RightsRequest(r[0], r[1], int(r[2]), None if r[3] is None else int(r[3]))
            for r in await self.db.fetchall(
                "SELECT r.kind, r.subject, r.requested_at,"
                " CASE WHEN r.kind = 'erasure' AND EXISTS (SELECT 1 FROM erasure_receipt x"
                "   WHERE x.subject = r.subject AND x.requested_at = r.requested_at)"
                " THEN (SELECT CASE WHEN x.held_rooms = 0 THEN x.completed_at END FROM erasure_receipt x"
                "   WHERE x.subject = r.subject AND x.requested_at = r.requested_at"
                "   ORDER BY x.seq DESC LIMIT 1)"
                " ELSE r.served_at END"
                " FROM rights_request r WHERE r.requested_at >= ? AND r.requested_at < ?",
                (lo_ms, hi_ms),
            )
        ]
        retention = [
            RetentionRun(int(r[0]), int(r[1]), int(r[2]), int(r[3]))
            for r in await self.db.fetchall(
                "SELECT started_at, redacted, media_deleted, failures FROM retention_run"
                " WHERE started_at >= ? AND started_at < ?",
                (lo_ms, hi_ms),
            )
        ]
        return Activity(messages, consents, rights, retention)

    # -- evidence for the data-protection section --------------------------------------------

    async def sweeps(self, lo_ms: int, hi_ms: int) -> list[tuple[int, int | None]]:
        """(started, finished) of the retention sweeps started in a span, oldest first."""
        rows = await self.db.fetchall(
            "SELECT started_at, finished_at FROM retention_run WHERE started_at >= ? AND started_at < ?"
            " ORDER BY started_at",
            (lo_ms, hi_ms),
        )
        return [(int(r[0]), None if r[1] is None else int(r[1])) for r in rows]

    async def first_sweep(self) -> int | None:
        value = await self.db.fetchval("SELECT MIN(started_at) FROM retention_run")
        return None if value is None else int(value)

    async def open_erasures(self) -> dict[str, int]:
        """Erasures not finished yet, by why they wait: ``retry`` (redactions the homeserver
        refused) and ``postponed`` (a legal hold or a documentation duty); one per person."""
        row = await self.db.fetchone(
            "SELECT COUNT(DISTINCT CASE WHEN reason = 'retry' THEN receipt END),"
            " COUNT(DISTINCT CASE WHEN reason != 'retry' THEN receipt END) FROM erasure_pending"
        )
        return {"retry": int(row[0] or 0), "postponed": int(row[1] or 0)} if row else {}

    async def kv_with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        """State entries whose key starts with ``prefix`` (the e-mails still to send)."""
        rows = await self.db.fetchall(
            "SELECT key, value FROM kv WHERE substr(key, 1, ?) = ? ORDER BY key", (len(prefix), prefix)
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    # -- frozen periods ----------------------------------------------------------------------

    async def frozen(self, period: str) -> FrozenPeriod | None:
        meta = await self.db.fetchone(
            "SELECT k, epsilon, demo_data FROM stats_period WHERE period = ?", (period,)
        )
        if meta is None:
            return None
        rows = await self.db.fetchall(
            "SELECT scope, position, figure, raw, persons, shown, suppressed, unit FROM stats_cell"
            " WHERE period = ? ORDER BY position, figure",
            (period,),
        )
        scopes: dict[str, dict[str, FrozenCell]] = {}
        for r in rows:
            scopes.setdefault(str(r[0]), {})[str(r[2])] = FrozenCell(
                str(r[2]),
                None if r[3] is None else float(r[3]),
                int(r[4]),
                None if r[5] is None else float(r[5]),
                bool(r[6]),
                str(r[7]),
            )
        return FrozenPeriod(
            period,
            int(meta[0]),
            None if meta[1] is None else float(meta[1]),
            bool(meta[2]),
            list(scopes.items()),
        )

    async def freeze(self, frozen: FrozenPeriod, at_ms: int) -> None:
        """Store a period's figures once; a period already stored is left as it was."""
        statements: list[tuple[str, tuple[object, ...]]] = [
            (
                "INSERT INTO stats_period (period, frozen_at, k, epsilon, demo_data) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (period) DO NOTHING",
                (frozen.period, at_ms, frozen.k, frozen.epsilon, int(frozen.demo_data)),
            )
        ]
        for position, (scope, cells) in enumerate(frozen.rows):
            for c in cells.values():
                statements.append(
                    (
                        "INSERT INTO stats_cell (period, scope, position, figure, raw, persons, shown,"
                        " suppressed, unit) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?"
                        " WHERE (SELECT frozen_at FROM stats_period WHERE period = ?) = ?"
                        " ON CONFLICT (period, scope, figure) DO NOTHING",
                        (
                            frozen.period,
                            scope,
                            position,
                            c.figure,
                            c.raw,
                            c.persons,
                            c.shown,
                            int(c.suppressed),
                            c.unit,
                            frozen.period,
                            at_ms,
                        ),
                    )
                )
        await self.db.write_atomic(statements)
