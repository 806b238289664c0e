"""What power the bot needs in a room it manages, and whether it has it (pure functions).

In a managed room (team, admin, leadership, counselling) the bot posts notices, sets the
retention state (``m.room.retention``) and redacts expired messages. From room version 12 on,
a room's creators (the sender of ``m.room.create`` and its ``additional_creators``) hold
unlimited power and are not listed in ``power_levels.users``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

CREATOR = 10**9  # stands for the unlimited power of a room-version-12 creator


@dataclass(frozen=True)
class Power:
    has: int
    needs: int
    creator: bool

    @property
    def enough(self) -> bool:
        return self.has >= self.needs


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def needed(levels: dict[str, Any]) -> int:
    """The level that lets a member post, set ``m.room.retention`` and redact others' messages."""
    events = levels.get("events") or {}
    state_default = _int(levels.get("state_default"), 50)
    events_default = _int(levels.get("events_default"), 0)
    return max(
        _int(events.get("m.room.retention"), state_default),
        _int(levels.get("redact"), 50),
        _int(events.get("m.room.message"), events_default),
    )


def power_of(user_id: str, state: Iterable[dict[str, Any]]) -> Power:
    """``user_id``'s power in a room, from the room's state events (as the server returns them)."""
    levels: dict[str, Any] = {}
    creators: set[str] = set()
    version = "1"
    for event in state:
        if event.get("state_key") != "":
            continue
        if event.get("type") == "m.room.power_levels":
            levels = event.get("content") or {}
        elif event.get("type") == "m.room.create":
            content = event.get("content") or {}
            version = str(content.get("room_version", "1"))
            creators = {str(event.get("sender"))} | {str(u) for u in content.get("additional_creators") or []}
    creator = version.isdigit() and int(version) >= 12 and user_id in creators
    users = levels.get("users") or {}
    has = CREATOR if creator else _int(users.get(user_id), _int(levels.get("users_default"), 0))
    return Power(has, needed(levels), creator)
