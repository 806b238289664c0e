"""Room keys for members who joined while the bot was sharing one.

matrix-nio shares a room's outbound Megolm session with the members it knows when the share
starts, and marks the session shared when the share ends, even if someone joined in between.
A join seen *during* the share does not rotate the session either: nio only rotates sessions
already marked shared. The bot would then go on encrypting with a session that member never
received; every later message of the bot's in that room shows them "unable to decrypt", until
the session expires (a week, or 100 messages).

So before each send, the bot checks the session against the room's members as nio itself does
once a share's answer arrives: each device of each member either received the session or is
deliberately left out (the bot's own device, a blacklisted one). If one is missing, the session
is reopened, and nio's send shares the *same* session with the missing devices only. They can
read from this message on, not what came before (a Megolm key is shared at its current index).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

TRIED_LIMIT = 10_000


class ShareGuard:
    """Reopens a room's session for members' devices that lack it, once per session and
    device: a device the bot cannot reach (no one-time keys left on the server) would
    otherwise cost a key claim before every message."""

    def __init__(self) -> None:
        self._tried: set[tuple[str, str, str]] = set()  # (session, user, device)

    def before_send(self, client: Any, room_id: str) -> bool:
        """Mark the room's outbound session as not shared if a member's device lacks it, so
        that the next ``room_send`` shares it with that device. True if it did.

        ``client``: a matrix-nio ``AsyncClient`` (typed loosely: its ``olm`` is untyped)."""
        olm = client.olm
        if olm is None or room_id in client.sharing_session:
            return False  # no encryption, or a share is under way (the send waits for it)
        session = olm.outbound_group_sessions.get(room_id)
        room = client.rooms.get(room_id)
        if session is None or not session.shared or room is None:
            return False  # the send shares it anyway
        covered = session.users_shared_with | session.users_ignored
        missing = {
            (session.id, user_id, device.id)
            for user_id in room.users
            for device in olm.device_store.active_user_devices(user_id)
            if device.id != olm.device_id
            and not olm.is_device_blacklisted(device)
            and (user_id, device.id) not in covered
        }
        if not missing - self._tried:
            return False
        if len(self._tried) > TRIED_LIMIT:
            self._tried.clear()  # old sessions' entries; at worst one more claim each
        self._tried |= missing
        log.info(
            "sharing the room key of %s with %d device(s) of members that lack it", room_id, len(missing)
        )
        session.shared = False
        return True
