"""Queries for the statistics: metadata in, plain activity values out."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.stats.aggregate import Activity, ConsentEvent, Message, RetentionRun, RightsRequest
from bot.store.consent import now_ms
from bot.store.db import Database


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

    async def activity(self, lo_ms: int, hi_ms: int, bot_subject: str) -> Activity:
        """Everything between two instants; people appear as store pseudonyms."""
        clients = {r[0] for r in await self.db.fetchall("SELECT DISTINCT subject FROM intake")}
        workers = {
            r[0]
            for r in await self.db.fetchall(
                "SELECT worker FROM intake WHERE worker IS NOT NULL UNION"
                " SELECT subject FROM consent_log WHERE scope = 'worker_rules'"
            )
        }
        # A consultation belongs to the team room where its intake was started or claimed.
        team_rows = await self.db.fetchall(
            "SELECT i.subject, i.consultation_room, i.notify_room FROM intake i JOIN room r"
            " ON r.room_id = i.notify_room WHERE r.kind = 'team' ORDER BY i.intake_id"
        )
        room_team = {r[1]: r[2] for r in team_rows if r[1]}
        subject_team = {r[0]: r[2] for r in team_rows}
        rows = await self.db.fetchall(
            "SELECT e.room_id, e.sender, e.ts FROM event_meta e JOIN room r ON r.room_id = e.room_id"
            " WHERE r.kind = 'consultation' AND e.type IN ('m.room.message', 'm.room.encrypted', 'm.sticker')"
            " AND e.ts >= ? AND e.ts < ? AND e.sender != ?",
            (lo_ms, hi_ms, bot_subject),
        )
        messages = [
            Message(r[0], r[1], "client" if r[1] in clients else "worker", int(r[2]), room_team.get(r[0]))
            for r in rows
            if r[1] in clients or r[1] in workers
        ]
        firsts = {
            (r[0], int(r[1]))
            for r in await self.db.fetchall(
                "SELECT subject, MIN(seq) FROM consent_log WHERE scope = 'client' AND decision = 'given'"
                " GROUP BY subject"
            )
        }
        consents = [
            ConsentEvent(r[1], r[2], int(r[3]), (r[1], int(r[0])) in firsts, subject_team.get(r[1]))
            for r in await self.db.fetchall(
                "SELECT seq, subject, decision, recorded_at FROM consent_log WHERE scope = 'client'"
                " AND decision IN ('given', 'declined', 'withdrawn')"
                " AND recorded_at >= ? AND recorded_at < ?",
                (lo_ms, hi_ms),
            )
        ]
        rights = [
            RightsRequest(r[0], r[1], int(r[2]), None if r[3] is None else int(r[3]))
            for r in await self.db.fetchall(
                "SELECT kind, subject, requested_at, served_at FROM rights_request"
                " WHERE requested_at >= ? AND requested_at < ?",
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
