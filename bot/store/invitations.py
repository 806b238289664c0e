"""Queries for invitations of clients who have no account yet (see migration 0010)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.ids import RoomID
from bot.store.db import Database, Row

OPEN = "open"
USED = "used"
REVOKED = "revoked"
EXPIRED = "expired"


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Invitation:
    invitation_id: int
    worker: str  # pseudonym
    worker_room: RoomID
    language: str
    token_hash: str
    created_at: int
    expires_at: int
    state: str
    closed_at: int | None
    client: str | None

    def state_at(self, now_ms: int) -> str:
        """The state as it is now: an open invitation past its expiry is expired."""
        if self.state == OPEN and now_ms >= self.expires_at:
            return EXPIRED
        return self.state


def _invitation(row: Row | None) -> Invitation | None:
    if row is None:
        return None
    return Invitation(
        row["invitation_id"],
        row["worker"],
        RoomID(row["worker_room"]),
        row["language"],
        row["token_hash"],
        row["created_at"],
        row["expires_at"],
        row["state"],
        row["closed_at"],
        row["client"],
    )


_COLUMNS = (
    "invitation_id, worker, worker_room, language, token_hash, created_at, expires_at, state, "
    "closed_at, client"
)


class InvitationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        *,
        worker: str,
        worker_room: RoomID,
        language: str,
        page_key: str,
        token_hash: str,
        pairing_hash: str,
        expires_at: int,
        created_at: int | None = None,
    ) -> Invitation:
        row = await self.db.write_returning(
            "INSERT INTO invitation (worker, worker_room, language, page_key, token_hash, pairing_hash,"
            f" created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
            (
                worker,
                worker_room,
                language,
                page_key,
                token_hash,
                pairing_hash,
                created_at if created_at is not None else _now_ms(),
                expires_at,
            ),
        )
        invitation = _invitation(row)
        assert invitation is not None
        return invitation

    async def by_id(self, invitation_id: int) -> Invitation | None:
        return _invitation(
            await self.db.fetchone(
                f"SELECT {_COLUMNS} FROM invitation WHERE invitation_id = ?", (invitation_id,)
            )
        )

    async def by_page(self, page_key: str) -> Invitation | None:
        return _invitation(
            await self.db.fetchone(f"SELECT {_COLUMNS} FROM invitation WHERE page_key = ?", (page_key,))
        )

    async def open_by_pairing(self, pairing_hashes: Sequence[str]) -> Invitation | None:
        """The open invitation whose pairing code is one of these (expiry is the caller's to judge)."""
        if not pairing_hashes:
            return None
        marks = ", ".join("?" for _ in pairing_hashes)
        return _invitation(
            await self.db.fetchone(
                f"SELECT {_COLUMNS} FROM invitation WHERE state = 'open' AND pairing_hash IN ({marks})"
                " ORDER BY invitation_id LIMIT 1",
                tuple(pairing_hashes),
            )
        )

    async def of_worker(self, worker: str, states: Sequence[str] = (OPEN,)) -> list[Invitation]:
        marks = ", ".join("?" for _ in states)
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM invitation WHERE worker = ? AND state IN ({marks})"
            " ORDER BY invitation_id",
            (worker, *states),
        )
        return [i for i in (_invitation(r) for r in rows) if i is not None]

    async def any_open(self, now_ms: int, grace_ms: int = 0) -> bool:
        """Whether some invitation could still be paired (open, and not expired longer ago than
        ``grace_ms``: an account registered in time may write a little later)."""
        row = await self.db.fetchone(
            "SELECT 1 FROM invitation WHERE state = 'open' AND expires_at > ? LIMIT 1", (now_ms - grace_ms,)
        )
        return row is not None

    async def open_expired_before(self, cutoff_ms: int) -> list[Invitation]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM invitation WHERE state = 'open' AND expires_at < ?"
            " ORDER BY invitation_id",
            (cutoff_ms,),
        )
        return [i for i in (_invitation(r) for r in rows) if i is not None]

    def close(
        self, invitation_id: int, state: str, *, client: str | None = None, at_ms: int | None = None
    ) -> asyncio.Future[None]:
        """Used, revoked or expired: only an open invitation changes, once."""
        return self.db.write(
            "UPDATE invitation SET state = ?, closed_at = ?, client = ?"
            " WHERE invitation_id = ? AND state = 'open'",
            (state, at_ms if at_ms is not None else _now_ms(), client, invitation_id),
        )

    def forget_client(self, client: str) -> asyncio.Future[None]:
        """An erasure: the invitation no longer says whom it brought in."""
        return self.db.write("UPDATE invitation SET client = NULL WHERE client = ?", (client,))

    async def of_client(self, client: str) -> list[Invitation]:
        rows = await self.db.fetchall(f"SELECT {_COLUMNS} FROM invitation WHERE client = ?", (client,))
        return [i for i in (_invitation(r) for r in rows) if i is not None]
