"""Which retention policy applies to a room, and why.

Precedence, first match wins:

1. **Legal hold** on the room: nothing is deleted until the hold ends (reported, not a policy).
2. **Assignment** by an admin in the admin room (``!zuweisen``): the most specific decision.
3. **Room listed** in a policy file (``rooms = [...]``, by ID or alias).
4. **Room kind** named in a policy file (``room_kinds = [...]``).
5. **Default** policy (``default = "…"``).
6. Nothing: the room's messages are kept; the report shows such rooms.

Within one policy, ``min_age`` wins over ``max_age``: a message is deleted only when it is
older than both (documentation duties override deletion wishes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.ids import RoomID
from bot.retention.policy import Policy, PolicySet


@dataclass(frozen=True)
class Resolution:
    policy: Policy | None
    # Catalog key suffix: assigned, listed, kind, default, none, unknown_assignment
    reason: str


def resolve(
    room_id: RoomID,
    room_kind: str,
    policies: PolicySet,
    assignments: Mapping[RoomID, str],
    room_refs: set[str] | None = None,
) -> Resolution:
    """``room_refs``: the room's ID and any aliases it is known by."""
    assigned = assignments.get(room_id)
    if assigned is not None:
        if assigned in policies.policies:
            return Resolution(policies.policies[assigned], "assigned")
        # The policy was removed from the files: fall through, but say so.
        fallback = resolve(room_id, room_kind, policies, {}, room_refs)
        return Resolution(fallback.policy, "unknown_assignment")
    listed = policies.listing_room(room_refs or {room_id})
    if listed is not None:
        return Resolution(listed, "listed")
    by_kind = policies.by_kind(room_kind)
    if by_kind is not None:
        return Resolution(by_kind, "kind")
    if policies.default is not None:
        return Resolution(policies.policies[policies.default], "default")
    return Resolution(None, "none")
