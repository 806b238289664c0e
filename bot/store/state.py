"""Queries for the bot's own state: sync token, handled events, preferences, rooms."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from bot.ids import EventID, RoomID
from bot.store.db import Database


def _now_ms() -> int:
    return int(time.time() * 1000)


class StateStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Room kinds, read for every message: kept here once read, because every change of a
        # kind goes through this store (set_room_kind, forget_room).
        self._kinds: dict[RoomID, str | None] = {}

    async def get(self, key: str) -> str | None:
        value = await self.db.fetchval("SELECT value FROM kv WHERE key = ?", (key,))
        return None if value is None else str(value)

    def put(self, key: str, value: str) -> asyncio.Future[None]:
        return self.db.write(
            "INSERT INTO kv (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def delete(self, key: str) -> asyncio.Future[None]:
        return self.db.write("DELETE FROM kv WHERE key = ?", (key,))

    async def with_prefix(self, prefix: str) -> dict[str, str]:
        """Every key starting with ``prefix`` (a literal, not a pattern) and its value."""
        rows = await self.db.fetchall(
            "SELECT key, value FROM kv WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
        )
        return {str(r[0]): str(r[1]) for r in rows}

    async def is_handled(self, event_id: EventID) -> bool:
        row = await self.db.fetchone("SELECT 1 FROM handled_event WHERE event_id = ?", (event_id,))
        return row is not None

    async def handled_among(self, event_ids: Iterable[EventID]) -> set[EventID]:
        """Which of these events were handled already: one query per 500, not one per event."""
        wanted = list(dict.fromkeys(event_ids))
        found: set[EventID] = set()
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = await self.db.fetchall(
                f"SELECT event_id FROM handled_event WHERE event_id IN ({marks})",
                chunk,
            )
            found.update(EventID(r[0]) for r in rows)
        return found

    def mark_handled(self, event_id: EventID) -> asyncio.Future[None]:
        return self.db.write(
            "INSERT INTO handled_event (event_id, handled_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (event_id, _now_ms()),
        )

    def forget_handled_before(self, cutoff_ms: int) -> asyncio.Future[None]:
        return self.db.write("DELETE FROM handled_event WHERE handled_at < ?", (cutoff_ms,))

    async def language(self, subject: str) -> str | None:
        value = await self.db.fetchval("SELECT language FROM user_pref WHERE subject = ?", (subject,))
        return None if value is None else str(value)

    def set_language(self, subject: str, language: str) -> asyncio.Future[None]:
        return self.db.write(
            "INSERT INTO user_pref (subject, language, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (subject) DO UPDATE SET language = excluded.language, "
            "updated_at = excluded.updated_at",
            (subject, language, _now_ms()),
        )

    # -- encrypted events waiting for their key ------------------------------------------

    def add_waiting_key(self, event_id: EventID, room_id: RoomID, since_ms: int) -> asyncio.Future[None]:
        return self.db.write(
            "INSERT INTO waiting_key (event_id, room_id, since) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (event_id, room_id, since_ms),
        )

    def drop_waiting_key(self, event_id: EventID) -> asyncio.Future[None]:
        return self.db.write("DELETE FROM waiting_key WHERE event_id = ?", (event_id,))

    async def waiting_keys(self) -> list[tuple[EventID, RoomID, int]]:
        rows = await self.db.fetchall("SELECT event_id, room_id, since FROM waiting_key ORDER BY since")
        return [(EventID(r[0]), RoomID(r[1]), int(r[2])) for r in rows]

    async def room_kind(self, room_id: RoomID) -> str | None:
        if room_id in self._kinds:
            return self._kinds[room_id]
        value = await self.db.fetchval("SELECT kind FROM room WHERE room_id = ?", (room_id,))
        kind = None if value is None else str(value)
        self._kinds.setdefault(room_id, kind)  # unless a write came in meanwhile
        return self._kinds[room_id]

    async def room_kinds(self) -> dict[RoomID, str]:
        """Every room the store knows and its kind, in one query (start-up)."""
        rows = await self.db.fetchall("SELECT room_id, kind FROM room")
        kinds = {RoomID(r[0]): str(r[1]) for r in rows}
        for room_id, kind in kinds.items():
            self._kinds.setdefault(room_id, kind)
        return kinds

    def set_room_kind(self, room_id: RoomID, kind: str, *, synthetic: bool = False) -> asyncio.Future[None]:
        """``synthetic``: a made-up room of the demo's seeded history, never a room on the server."""
        self._kinds[room_id] = kind
        written = self.db.write(
            "INSERT INTO room (room_id, kind, joined_at, synthetic) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (room_id) DO UPDATE SET kind = excluded.kind",
            (room_id, kind, _now_ms(), int(synthetic)),
        )
        written.add_done_callback(lambda done: self._unless_written(done, room_id))
        return written

    def _unless_written(self, done: asyncio.Future[None], room_id: RoomID) -> None:
        """A refused write (an unknown kind) must not leave its kind behind: read it again."""
        if done.cancelled() or done.exception() is not None:
            self._kinds.pop(room_id, None)

    def add_rooms(self, kinds: dict[RoomID, str]) -> asyncio.Future[None]:
        """Rooms new to the store (read :meth:`room_kinds` first), in one write; a room it
        knows keeps its kind."""
        now = _now_ms()
        for room_id, kind in kinds.items():
            if self._kinds.get(room_id) is None:
                self._kinds[room_id] = kind
        return self.db.write_many(
            "INSERT INTO room (room_id, kind, joined_at, synthetic) VALUES (?, ?, ?, 0)"
            " ON CONFLICT DO NOTHING",
            [(room_id, kind, now) for room_id, kind in kinds.items()],
        )

    def forget_room(self, room_id: RoomID) -> asyncio.Future[None]:
        self._kinds[room_id] = None
        return self.db.write("DELETE FROM room WHERE room_id = ?", (room_id,))
