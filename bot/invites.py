"""Which room invitations the bot accepts.

- Invitations from other homeservers: refused. Lotse serves one organisation's own server.
- From a social worker or an admin: accepted, group room or 1:1.
- A 1:1 invitation (``is_direct``) from any user of the bot's own homeserver: accepted; this is
  how a client starts an intake by writing to the bot.
- To a room that the configuration names (admin, leadership, team, roster rooms), from a
  user of the own homeserver: accepted, so an organisation can set those rooms up.
- Anything else (a stranger's group room): refused, politely, with a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.ids import RoomID, UserID, server_name
from bot.roles import Role


@dataclass(frozen=True)
class InviteDecision:
    accept: bool
    room_kind: str | None = None
    # Catalog key of the reason given when refusing.
    reason_key: str | None = None


def decide_invite(
    *,
    room_id: RoomID,
    inviter: UserID,
    is_direct: bool,
    own_server: str,
    inviter_roles: frozenset[Role],
    configured_rooms: Mapping[RoomID, str],
) -> InviteDecision:
    if server_name(inviter) != own_server:
        return InviteDecision(False, reason_key="invite.reject.foreign")
    configured_kind = configured_rooms.get(room_id)
    if configured_kind is not None:
        return InviteDecision(True, configured_kind)
    if inviter_roles & {Role.WORKER, Role.ADMIN}:
        return InviteDecision(True, "direct" if is_direct else "group")
    if is_direct:
        # A client writing to the bot: this 1:1 room is their intake.
        return InviteDecision(True, "intake")
    return InviteDecision(False, reason_key="invite.reject.group")
