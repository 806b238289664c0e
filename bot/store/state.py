"""Queries for the bot's own state: sync token, handled events, preferences, rooms."""

from __future__ import annotations

import asyncio
import time

from bot.ids import EventID, RoomID
from bot.store.db import Database


def _now_ms() -> int:
    return int(time.time() * 1000)


class StateStore:
    def __init__(self, db: Database) -> None:
        self.db = db

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
        value = await self.db.fetchval("SELECT kind FROM room WHERE room_id = ?", (room_id,))
        return None if value is None else str(value)

    def set_room_kind(self, room_id: RoomID, kind: str, *, synthetic: bool = False) -> asyncio.Future[None]:
        """``synthetic``: a made-up room of the demo's seeded history, never a room on the server."""
        return self.db.write(
            "INSERT INTO room (room_id, kind, joined_at, synthetic) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (room_id) DO UPDATE SET kind = excluded.kind",
            (room_id, kind, _now_ms(), int(synthetic)),
        )

    def forget_room(self, room_id: RoomID) -> asyncio.Future[None]:
        return self.db.write("DELETE FROM room WHERE room_id = ?", (room_id,))
