"""Shared by the retention tests: a recording homeserver with the retention calls, and a context
on a policy folder with tiny lifetimes and a clock the test controls."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.context import BotContext
from bot.ids import EventID, RoomAlias, RoomID, UserID
from bot.matrix.events import Recorded
from bot.store.consent import EventMeta
from bot.store.db import Database
from tests.support import REPO, FakeMatrix, make_context

# Fixed "now" for the sweeps, in seconds. It lies in the past on purpose: the store stamps runs
# with the wall clock, and the report counts runs since "now" minus some days.
T = 1_700_000_000.0
T_MS = int(T * 1000)

ADMIN_ROOM = RoomID("!admin:example.org")

# Tiny lifetimes, so that a test can place events on either side of a cutoff.
TINY = """\
default = "standard"

[policy.standard]
max_age = "1h"
room_kinds = ["group", "direct"]

[policy.kurz]
description = "Beratung, kurz"
max_age = "10s"
media_max_age = "5s"
room_kinds = ["consultation", "intake", "team"]

[policy.pflicht]
description = "Nachweise"
max_age = "10s"
min_age = "60s"
room_kinds = ["admin", "leadership"]

[policy.lang]
max_age = "1d"
"""


@dataclass
class RecordingMatrix(FakeMatrix):
    """FakeMatrix plus the calls retention makes, recorded."""

    state: list[tuple[RoomID, str, dict[str, Any]]] = field(default_factory=list)
    purged: list[tuple[RoomID, int]] = field(default_factory=list)
    history: dict[RoomID, list[Recorded]] = field(default_factory=dict)
    aliases: dict[str, RoomID] = field(default_factory=dict)
    refuse_media: set[str] = field(default_factory=set)
    # Rooms where the bot lacks the power level to send state.
    deny_state: set[RoomID] = field(default_factory=set)
    denied_state: list[tuple[RoomID, str, dict[str, Any]]] = field(default_factory=list)
    # Who is still in a room, as the homeserver would say (rooms not listed: unknown).
    audience: dict[RoomID, set[UserID]] = field(default_factory=dict)
    # Events the server still serves per room, after purges (rooms not listed: unknown).
    served: dict[RoomID, set[EventID]] = field(default_factory=dict)
    # The server-side time of each event, so a purge knows what lies before its point.
    event_ts: dict[EventID, int] = field(default_factory=dict)

    async def set_room_state(self, room_id: RoomID, event_type: str, content: dict[str, Any]) -> bool:
        if room_id in self.deny_state:
            self.denied_state.append((room_id, event_type, dict(content)))
            return False
        self.state.append((room_id, event_type, dict(content)))
        return True

    async def purge_history(self, room_id: RoomID, up_to_ms: int) -> bool:
        self.purged.append((room_id, up_to_ms))
        if room_id in self.served:
            self.served[room_id] = {e for e in self.served[room_id] if self.event_ts.get(e, 0) >= up_to_ms}
        return True

    async def room_audience(self, room_id: RoomID) -> set[UserID] | None:
        return set(self.audience[room_id]) if room_id in self.audience else None

    async def served_events(self, room_id: RoomID, limit: int = 100_000) -> set[EventID] | None:
        if room_id not in self.served:
            return None
        redacted = {e for r, e in self.redacted if r == room_id}
        return self.served[room_id] - redacted

    async def room_history(self, room_id: RoomID, max_events: int = 50_000) -> list[Recorded]:
        return list(self.history.get(room_id, []))[:max_events]

    async def resolve_alias(self, alias: RoomAlias) -> RoomID | None:
        return self.aliases.get(alias)

    async def delete_media(self, mxc: str) -> bool:
        if mxc in self.refuse_media:
            return False
        return await super().delete_media(mxc)

    def retention_state(self, room_id: RoomID) -> list[dict[str, Any]]:
        return [c for r, t, c in self.state if r == room_id and t == "m.room.retention"]


def tiny_policies(tmp_path: Path, text: str = TINY) -> Path:
    """The shipped policy folder (notices, rules) with default.toml replaced."""
    directory = tmp_path / "policies"
    shutil.copytree(REPO / "policies", directory)
    (directory / "default.toml").write_text(text, encoding="utf-8")
    return directory


async def retention_context(
    tmp_path: Path,
    *,
    admins: list[str] = (),
    **settings: Any,  # type: ignore[assignment]
) -> tuple[BotContext, RecordingMatrix, Database]:
    ctx, _, db = await make_context(
        tmp_path,
        admins=admins,
        rooms={"admin": ADMIN_ROOM},
        policies_dir=tiny_policies(tmp_path),
        **settings,
    )
    matrix = RecordingMatrix()
    ctx.matrix = matrix
    ctx.clock = lambda: T
    return ctx, matrix, db


_counter = 0


SENDER = UserID("@sender:example.org")


async def add_events(
    ctx: BotContext, room: RoomID, *ages: float, media: bool = False, sender: UserID = SENDER
) -> list[EventID]:
    """Events ``ages`` seconds before T; with ``media``, each carries one file of its own,
    uploaded by the event's sender."""
    global _counter
    rows = []
    for age in ages:
        _counter += 1
        event = EventID(f"$e{_counter}")
        files = (f"mxc://example.org/m{_counter}",) if media else ()
        for mxc in files:
            ctx.matrix.uploaders[mxc] = sender  # type: ignore[attr-defined]
        rows.append(
            EventMeta(event, room, ctx.subject(sender), T_MS - int(age * 1000), "m.room.message", files)
        )
    await ctx.consent.record_events(rows)
    return [r.event_id for r in rows]


def mxc_of(event: EventID) -> str:
    return f"mxc://example.org/m{event.removeprefix('$e')}"
