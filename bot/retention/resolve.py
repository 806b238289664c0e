"""Which retention policy applies to a room, and why.

Precedence, first match wins:

1. **Legal hold** on the room: nothing is deleted until the hold ends (reported, not a policy).
2. **Assignment** by an admin in the admin room (``!zuweisen``): the most specific decision.
3. **Room listed** in a policy file (``rooms = [...]``, by ID or alias).
4. **Room kind** named in a policy file (``room_kinds = [...]``).
5. **Default** policy (``default = "…"``).
6. Nothing: the room's messages are kept; the report shows such rooms.

Within one policy, ``min_age`` wins over ``max_age``: a message is deleted only when it is
older than both (documentation duties override deletion wishes). The same holds across
policies: the longest ``min_age`` of every policy that names the room (assignment, listing,
kind) binds, whichever policy's ``max_age`` applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

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
    found = _winner(room_id, room_kind, policies, assignments, room_refs)
    if found.policy is None:
        return found
    duties = [
        p.min_age
        for p in (
            policies.policies.get(assignments.get(room_id, "")),
            policies.listing_room(room_refs or {room_id}),
            policies.by_kind(room_kind),
        )
        if p is not None and p.min_age is not None
    ]
    strongest = max(duties, default=None)
    if strongest is not None and (found.policy.min_age is None or strongest > found.policy.min_age):
        return Resolution(replace(found.policy, min_age=strongest), found.reason)
    return found


def _winner(
    room_id: RoomID,
    room_kind: str,
    policies: PolicySet,
    assignments: Mapping[RoomID, str],
    room_refs: set[str] | None,
) -> Resolution:
    assigned = assignments.get(room_id)
    if assigned is not None:
        if assigned in policies.policies:
            return Resolution(policies.policies[assigned], "assigned")
        # The policy was removed from the files: fall through, but say so.
        fallback = _winner(room_id, room_kind, policies, {}, room_refs)
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
