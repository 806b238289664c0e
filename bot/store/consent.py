"""Queries for consent, intakes, people's sealed IDs, event metadata, holds and erasures."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.ids import EventID, RoomID
from bot.store.db import Database, Row


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class ConsentEntry:
    seq: int
    scope: str
    purpose: str
    notice_version: str
    language: str
    decision: str
    method: str
    by_other: bool
    event_id: str | None
    recorded_at: int
    note: str | None = None
    notice_hash: str | None = None


@dataclass(frozen=True)
class Intake:
    intake_id: int
    room_id: RoomID
    subject: str
    worker: str | None
    state: str
    minor: bool | None
    prior_state: str | None
    notify_room: RoomID | None
    question_event: EventID | None
    consultation_room: RoomID | None
    created_at: int
    updated_at: int
    reask_event: EventID | None = None
    pending: str | None = None  # an action waiting for the client's confirmation ("withdraw")


@dataclass(frozen=True)
class EventMeta:
    event_id: EventID
    room_id: RoomID
    sender: str
    ts: int
    type: str
    media: tuple[str, ...]


_INTAKE_FIELDS = {
    "worker",
    "state",
    "minor",
    "prior_state",
    "notify_room",
    "question_event",
    "consultation_room",
    "reask_event",
    "pending",
}


def _intake(row: Row | None) -> Intake | None:
    if row is None:
        return None
    return Intake(
        row["intake_id"],
        RoomID(row["room_id"]),
        row["subject"],
        row["worker"],
        row["state"],
        None if row["minor"] is None else bool(row["minor"]),
        row["prior_state"],
        row["notify_room"],
        row["question_event"],
        row["consultation_room"],
        row["created_at"],
        row["updated_at"],
        row["reask_event"],
        row["pending"],
    )


class ConsentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- people --------------------------------------------------------------------------

    def put_person(self, subject: str, sealed: bytes) -> asyncio.Future[None]:
        return self.db.write(
            "INSERT INTO person (subject, sealed_id, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (subject) DO NOTHING",
            (subject, sealed, now_ms()),
        )

    async def sealed_id(self, subject: str) -> bytes | None:
        value = await self.db.fetchval("SELECT sealed_id FROM person WHERE subject = ?", (subject,))
        return None if value is None else bytes(value)

    # -- consent log ---------------------------------------------------------------------

    def append(
        self,
        *,
        subject: str,
        scope: str,
        purpose: str,
        notice_version: str,
        language: str,
        decision: str,
        method: str,
        actor: str | None = None,
        event_id: str | None = None,
        at_ms: int | None = None,
        note: str | None = None,
        notice_hash: str | None = None,
    ) -> asyncio.Future[None]:
        # The same decision from the same event is recorded once: after a crash the event is
        # handled again (its sync batch was not done), and a second row would be a second consent.
        # Without an event (NULL equals nothing) every call is recorded.
        return self.db.write(
            "INSERT INTO consent_log (subject, scope, purpose, notice_version, language, decision,"
            " method, actor, event_id, recorded_at, note, notice_hash)"
            " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12"
            " WHERE NOT EXISTS (SELECT 1 FROM consent_log WHERE event_id = ?9"
            " AND subject = ?1 AND scope = ?2 AND decision = ?6)",
            (
                subject,
                scope,
                purpose,
                notice_version,
                language,
                decision,
                method,
                actor,
                event_id,
                now_ms() if at_ms is None else at_ms,
                note,
                notice_hash,
            ),
        )

    async def history(self, subject: str, scope: str | None = None) -> list[ConsentEntry]:
        sql = (
            "SELECT seq, scope, purpose, notice_version, language, decision, method, actor, event_id,"
            " recorded_at, note, notice_hash FROM consent_log WHERE subject = ?"
        )
        params: list[object] = [subject]
        if scope is not None:
            sql += " AND scope = ?"
            params.append(scope)
        rows = await self.db.fetchall(sql + " ORDER BY seq", params)
        return [
            ConsentEntry(
                r["seq"],
                r["scope"],
                r["purpose"],
                r["notice_version"],
                r["language"],
                r["decision"],
                r["method"],
                r["actor"] is not None,
                r["event_id"],
                r["recorded_at"],
                r["note"],
                r["notice_hash"],
            )
            for r in rows
        ]

    async def latest(self, subject: str, scope: str) -> ConsentEntry | None:
        entries = await self.history(subject, scope)
        return entries[-1] if entries else None

    # -- intakes -------------------------------------------------------------------------

    async def create_intake(
        self,
        room_id: RoomID,
        subject: str,
        *,
        worker: str | None,
        notify_room: RoomID | None,
        state: str,
    ) -> Intake:
        ts = now_ms()
        await self.db.write(
            "INSERT INTO intake (room_id, subject, worker, state, notify_room, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (room_id) DO NOTHING",
            (room_id, subject, worker, state, notify_room, ts, ts),
        )
        intake = await self.intake_by_room(room_id)
        assert intake is not None
        return intake

    async def intake_by_room(self, room_id: RoomID) -> Intake | None:
        return _intake(await self.db.fetchone("SELECT * FROM intake WHERE room_id = ?", (room_id,)))

    async def intake_by_id(self, intake_id: int) -> Intake | None:
        return _intake(await self.db.fetchone("SELECT * FROM intake WHERE intake_id = ?", (intake_id,)))

    async def intake_by_consultation(self, room_id: RoomID) -> Intake | None:
        row = await self.db.fetchone("SELECT * FROM intake WHERE consultation_room = ?", (room_id,))
        return _intake(row)

    async def intakes_of(self, subject: str) -> list[Intake]:
        rows = await self.db.fetchall("SELECT * FROM intake WHERE subject = ? ORDER BY intake_id", (subject,))
        return [i for i in (_intake(r) for r in rows) if i is not None]

    async def unclaimed_intakes(self) -> list[Intake]:
        rows = await self.db.fetchall(
            "SELECT * FROM intake WHERE worker IS NULL AND state NOT IN ('declined', 'withdrawn')"
            " ORDER BY intake_id"
        )
        return [i for i in (_intake(r) for r in rows) if i is not None]

    async def room_activity(
        self, room_id: RoomID, client: str, worker: str
    ) -> tuple[int | None, int, int | None]:
        """(last message, the client's messages since the worker last wrote, the first of them)."""
        row = await self.db.fetchone(
            "SELECT (SELECT MAX(ts) FROM event_meta WHERE room_id = ?1) AS last,"
            " COUNT(*) AS waiting, MIN(ts) AS since FROM event_meta WHERE room_id = ?1 AND sender = ?2"
            " AND ts > COALESCE((SELECT MAX(ts) FROM event_meta WHERE room_id = ?1 AND sender = ?3), 0)",
            (room_id, client, worker),
        )
        if row is None:
            return None, 0, None
        return row["last"], int(row["waiting"] or 0), row["since"]

    async def intakes_of_worker(self, worker: str) -> list[Intake]:
        rows = await self.db.fetchall(
            "SELECT * FROM intake WHERE worker = ? AND state NOT IN ('declined', 'withdrawn')"
            " ORDER BY intake_id",
            (worker,),
        )
        return [i for i in (_intake(r) for r in rows) if i is not None]

    def update_intake(self, intake_id: int, **fields: object) -> asyncio.Future[None]:
        unknown = set(fields) - _INTAKE_FIELDS
        if unknown:
            raise ValueError(f"not intake fields: {unknown}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        values = [int(v) if isinstance(v, bool) else v for v in fields.values()]
        return self.db.write(
            f"UPDATE intake SET {assignments}, updated_at = ? WHERE intake_id = ?",
            (*values, now_ms(), intake_id),
        )

    # -- event metadata ------------------------------------------------------------------

    def record_events(self, rows: Iterable[EventMeta]) -> asyncio.Future[None]:
        return self.db.write_many(
            "INSERT INTO event_meta (event_id, room_id, sender, ts, type, media)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                (
                    r.event_id,
                    r.room_id,
                    r.sender,
                    r.ts,
                    r.type,
                    json.dumps(list(r.media)) if r.media else None,
                )
                for r in rows
            ],
        )

    async def events_of(self, subject: str, rooms: Sequence[RoomID] | None = None) -> list[EventMeta]:
        sql = "SELECT * FROM event_meta WHERE sender = ? AND redacted_at IS NULL"
        params: list[object] = [subject]
        if rooms is not None:
            sql += f" AND room_id IN ({', '.join('?' for _ in rooms)})"
            params.extend(rooms)
        rows = await self.db.fetchall(sql + " ORDER BY ts", params)
        return [
            EventMeta(
                EventID(r["event_id"]),
                RoomID(r["room_id"]),
                r["sender"],
                r["ts"],
                r["type"],
                tuple(json.loads(r["media"])) if r["media"] else (),
            )
            for r in rows
        ]

    async def message_stats(self, subject: str) -> list[Row]:
        return await self.db.fetchall(
            "SELECT room_id, COUNT(*) AS n, MIN(ts) AS first_ts, MAX(ts) AS last_ts,"
            " COUNT(redacted_at) AS redacted FROM event_meta WHERE sender = ?"
            " GROUP BY room_id ORDER BY room_id",
            (subject,),
        )

    def mark_redacted(self, event_ids: Iterable[EventID]) -> asyncio.Future[None]:
        ts = now_ms()
        return self.db.write_many(
            "UPDATE event_meta SET redacted_at = ? WHERE event_id = ?", [(ts, e) for e in event_ids]
        )

    # -- legal holds ---------------------------------------------------------------------

    def set_hold(self, room_id: RoomID, until_ms: int, set_by: str) -> asyncio.Future[None]:
        return self.db.write(
            "INSERT INTO legal_hold (room_id, until_ms, set_by, set_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (room_id) DO UPDATE SET until_ms = excluded.until_ms,"
            " set_by = excluded.set_by, set_at = excluded.set_at",
            (room_id, until_ms, set_by, now_ms()),
        )

    def lift_hold(self, room_id: RoomID) -> asyncio.Future[None]:
        return self.db.write("DELETE FROM legal_hold WHERE room_id = ?", (room_id,))

    async def hold_until(self, room_id: RoomID, at_ms: int) -> int | None:
        value = await self.db.fetchval(
            "SELECT until_ms FROM legal_hold WHERE room_id = ? AND until_ms > ?", (room_id, at_ms)
        )
        return None if value is None else int(value)

    async def holds(self, at_ms: int) -> dict[RoomID, int]:
        """Every room under a hold at ``at_ms``, with its end: a few rows, read once for a
        whole sweep's plan instead of once per room."""
        rows = await self.db.fetchall("SELECT room_id, until_ms FROM legal_hold WHERE until_ms > ?", (at_ms,))
        return {RoomID(r[0]): int(r[1]) for r in rows}

    # -- erasure -------------------------------------------------------------------------

    async def write_receipt(
        self,
        subject: str,
        *,
        requested_at: int,
        redacted: int,
        media_deleted: int,
        held_rooms: int,
        held_until: int | None,
        failures: int,
    ) -> int:
        row = await self.db.write_returning(
            "INSERT INTO erasure_receipt (subject, requested_at, completed_at, redacted, media_deleted,"
            " held_rooms, held_until, failures) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
            (
                subject,
                requested_at,
                now_ms(),
                redacted,
                media_deleted,
                held_rooms,
                held_until,
                failures,
            ),
        )
        assert row is not None
        return int(row[0])

    async def receipts(self, subject: str) -> list[Row]:
        return await self.db.fetchall("SELECT * FROM erasure_receipt WHERE subject = ?", (subject,))

    def add_pending_erasure(
        self,
        subject: str,
        room_id: RoomID,
        receipt: int,
        *,
        reason: str = "hold",
        not_before: int | None = None,
    ) -> asyncio.Future[None]:
        return self.db.write(
            "INSERT INTO erasure_pending (subject, room_id, receipt, reason, not_before)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (subject, room_id, receipt, reason, not_before),
        )

    async def due_erasures(self, at_ms: int) -> list[tuple[str, RoomID, int]]:
        """Postponed erasures whose room is under no legal hold and whose time has come."""
        rows = await self.db.fetchall(
            "SELECT p.subject, p.room_id, p.receipt FROM erasure_pending p LEFT JOIN legal_hold h"
            " ON h.room_id = p.room_id AND h.until_ms > ?"
            " WHERE h.room_id IS NULL AND (p.not_before IS NULL OR p.not_before <= ?)",
            (at_ms, at_ms),
        )
        return [(r["subject"], RoomID(r["room_id"]), int(r["receipt"])) for r in rows]

    async def erasure_waiting(self, subject: str) -> bool:
        """Whether part of this person's erasure still waits (hold, min_age, retry)."""
        return bool(
            await self.db.fetchval("SELECT COUNT(*) FROM erasure_pending WHERE subject = ?", (subject,))
        )

    def reschedule_pending_erasure(
        self, subject: str, room_id: RoomID, receipt: int, *, reason: str, not_before: int, new_failures: int
    ) -> asyncio.Future[None]:
        """A waiting part must wait again. ``new_failures``: refusals not yet on the receipt (a
        part that waited for a hold and now meets a refusal)."""
        return self.db.write_atomic(
            [
                (
                    "UPDATE erasure_receipt SET failures = failures + ? WHERE seq = ?",
                    (new_failures, receipt),
                ),
                (
                    "UPDATE erasure_pending SET reason = ?, not_before = ?, attempts = attempts + 1"
                    " WHERE subject = ? AND room_id = ?",
                    (reason, not_before, subject, room_id),
                ),
            ]
        )

    async def pending_reason(self, subject: str, room_id: RoomID) -> str | None:
        value = await self.db.fetchval(
            "SELECT reason FROM erasure_pending WHERE subject = ? AND room_id = ?", (subject, room_id)
        )
        return None if value is None else str(value)

    async def pending_attempts(self, subject: str, room_id: RoomID) -> int:
        value = await self.db.fetchval(
            "SELECT attempts FROM erasure_pending WHERE subject = ? AND room_id = ?", (subject, room_id)
        )
        return int(value or 0)

    def count_redacted(self, receipt: int, redacted: int, *, recovered: bool) -> asyncio.Future[None]:
        """Redactions done before the room's part is finished; ``recovered``: they had been
        counted as failures (a retry), so the failures go down by as many."""
        return self.db.write(
            "UPDATE erasure_receipt SET redacted = redacted + ?1,"
            " failures = CASE WHEN failures > ?2 THEN failures - ?2 ELSE 0 END WHERE seq = ?3",
            (redacted, redacted if recovered else 0, receipt),
        )

    def count_media(self, receipt: int, media: int) -> asyncio.Future[None]:
        return self.db.write(
            "UPDATE erasure_receipt SET media_deleted = media_deleted + ? WHERE seq = ?", (media, receipt)
        )

    async def finish_pending_erasure(self, subject: str, room_id: RoomID, redacted: int) -> bool:
        """Close one postponed part; True when nothing of the person's erasure is left.

        A part that waited for a retry was counted as failed: what it redacts now is not."""
        # What it redacts now, if it had been counted as failed (it waited for a retry).
        recovered = (
            "COALESCE((SELECT CASE reason WHEN 'retry' THEN ?1 ELSE 0 END FROM erasure_pending"
            " WHERE subject = ?3 AND room_id = ?4), 0)"
        )
        await self.db.write_atomic(
            [
                (
                    "UPDATE erasure_receipt SET redacted = redacted + ?1, held_rooms = held_rooms - 1,"
                    f" completed_at = ?2, failures = CASE WHEN failures > {recovered}"
                    f" THEN failures - {recovered} ELSE 0 END"
                    " WHERE subject = ?3 AND held_rooms > 0",
                    (redacted, now_ms(), subject, room_id),
                ),
                ("DELETE FROM erasure_pending WHERE subject = ? AND room_id = ?", (subject, room_id)),
                ("DELETE FROM event_meta WHERE sender = ? AND room_id = ?", (subject, room_id)),
            ]
        )
        left = await self.db.fetchval("SELECT COUNT(*) FROM erasure_pending WHERE subject = ?", (subject,))
        return int(left or 0) == 0

    async def erase_subject(
        self, subject: str, *, keep_rooms: Sequence[RoomID], chats: Sequence[RoomID] = ()
    ) -> None:
        """Remove what Lotse stores about a person, except metadata in held rooms; all or nothing.

        ``chats``: the person's 1:1 rooms with the bot, remembered as erased so that a new
        message there is first answered with what happened (see :meth:`erased_chat`).
        """
        placeholders = ", ".join("?" for _ in keep_rooms) or "''"
        statements: list[tuple[str, Sequence[object]]] = [
            ("DELETE FROM consent_log WHERE subject = ?", (subject,)),
            (
                f"DELETE FROM event_meta WHERE sender = ? AND room_id NOT IN ({placeholders})",
                (subject, *keep_rooms),
            ),
            ("DELETE FROM user_pref WHERE subject = ?", (subject,)),
            ("DELETE FROM rights_request WHERE subject = ? AND kind = 'access'", (subject,)),
        ]
        if not keep_rooms:
            statements += [
                ("DELETE FROM intake WHERE subject = ?", (subject,)),
                ("DELETE FROM person WHERE subject = ?", (subject,)),
            ]
        statements += [
            (
                "INSERT INTO kv (key, value) VALUES (?, 'erased')"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (f"erased_chat:{room}",),
            )
            for room in chats
        ]
        await self.db.write_atomic(statements)

    async def unlink_receipts(self, subject: str) -> None:
        """Once an erasure is complete, its receipt and request rows keep a random tag instead
        of the pseudonym: the pseudonym can be recomputed from the user ID (with the key), a
        random tag cannot, so nothing links the receipt back to the person."""
        if await self.db.fetchval("SELECT COUNT(*) FROM erasure_pending WHERE subject = ?", (subject,)):
            return  # still waiting somewhere: the pending parts need the pseudonym
        tag = "erased-" + secrets.token_urlsafe(16)
        await self.db.write_atomic(
            [
                ("UPDATE erasure_receipt SET subject = ? WHERE subject = ?", (tag, subject)),
                ("UPDATE rights_request SET subject = ? WHERE subject = ?", (tag, subject)),
            ]
        )

    async def erased_chat(self, room_id: RoomID) -> str | None:
        """'erased' or 'asked' for a 1:1 chat whose person had everything erased, else None."""
        value = await self.db.fetchval("SELECT value FROM kv WHERE key = ?", (f"erased_chat:{room_id}",))
        return None if value is None else str(value)

    def set_erased_chat(self, room_id: RoomID, value: str | None) -> asyncio.Future[None]:
        if value is None:
            return self.db.write("DELETE FROM kv WHERE key = ?", (f"erased_chat:{room_id}",))
        return self.db.write(
            "INSERT INTO kv (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (f"erased_chat:{room_id}", value),
        )
