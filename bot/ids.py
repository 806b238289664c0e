"""Distinct identifier types, so a room ID cannot be passed where a user ID belongs.

The parsers follow the grammar in the Matrix spec's appendix on identifiers closely enough
to reject the mistakes people actually make in config files (a missing sigil, a missing
server part, whitespace), without trying to be a full validator.
"""

from __future__ import annotations

import hashlib
import re
from typing import NewType

UserID = NewType("UserID", str)
RoomID = NewType("RoomID", str)
RoomAlias = NewType("RoomAlias", str)
EventID = NewType("EventID", str)

# localpart: the historical user ID grammar is permissive; exclude only what breaks parsing.
_USER_RE = re.compile(r"^@[^:\s@]+:[A-Za-z0-9.\-\[\]:]+$")
_ROOM_RE = re.compile(r"^![^:\s]+:[A-Za-z0-9.\-\[\]:]+$")
# Room version 12 room IDs have no server part.
_ROOM_V12_RE = re.compile(r"^![A-Za-z0-9_\-]{20,}$")
_ALIAS_RE = re.compile(r"^#[^:\s]+:[A-Za-z0-9.\-\[\]:]+$")
_EVENT_RE = re.compile(r"^\$[^\s]+$")


def parse_user_id(value: str) -> UserID:
    value = value.strip()
    if not _USER_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a Matrix user ID (expected @name:server)")
    return UserID(value)


def parse_room_id(value: str) -> RoomID:
    value = value.strip()
    if not (_ROOM_RE.fullmatch(value) or _ROOM_V12_RE.fullmatch(value)):
        raise ValueError(f"{value!r} is not a Matrix room ID (expected !opaque:server)")
    return RoomID(value)


def parse_room_ref(value: str) -> RoomID | RoomAlias:
    """A room given in config: either its ID or an alias that is resolved at start-up."""
    value = value.strip()
    if _ALIAS_RE.fullmatch(value):
        return RoomAlias(value)
    try:
        return parse_room_id(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a room ID (!opaque:server) nor an alias (#name:server)"
        ) from None


def parse_event_id(value: str) -> EventID:
    value = value.strip()
    if not _EVENT_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a Matrix event ID (expected $opaque)")
    return EventID(value)


def server_name(user_id: UserID) -> str:
    return user_id.split(":", 1)[1]


def txn_id_for(*parts: str) -> str:
    """A transaction ID derived from what caused the send, so a repeated send is deduplicated
    by the homeserver instead of posting the same reply twice."""
    return "lotse-" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]
