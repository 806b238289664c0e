"""Who is a social worker, who is an admin, and everyone else (a client).

Roles come from configuration: listed user IDs, and the joined members of configured rooms
(a team room makes everyone in it a worker). Room membership is looked up through a callable
so this module stays free of Matrix code; results are cached until the room's membership
changes.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable

from bot.ids import RoomID, UserID


class Role(enum.StrEnum):
    CLIENT = "client"
    WORKER = "worker"
    ADMIN = "admin"


MembersLookup = Callable[[RoomID], Awaitable[set[UserID] | None]]


class RoleResolver:
    def __init__(
        self,
        workers: Iterable[UserID],
        admins: Iterable[UserID],
        worker_rooms: Iterable[RoomID],
        admin_rooms: Iterable[RoomID],
        members: MembersLookup,
    ) -> None:
        self._workers = frozenset(workers)
        self._admins = frozenset(admins)
        self._worker_rooms = tuple(worker_rooms)
        self._admin_rooms = tuple(admin_rooms)
        self._members = members
        self._cache: dict[RoomID, set[UserID]] = {}

    @property
    def roster_rooms(self) -> frozenset[RoomID]:
        return frozenset(self._worker_rooms + self._admin_rooms)

    def set_rooms(self, worker_rooms: Iterable[RoomID], admin_rooms: Iterable[RoomID]) -> None:
        """Replace the rooms that grant roles (a configured alias resolved after the start)."""
        self._worker_rooms = tuple(worker_rooms)
        self._admin_rooms = tuple(admin_rooms)
        for room in set(self._cache) - self.roster_rooms:
            del self._cache[room]

    def invalidate(self, room_id: RoomID) -> None:
        self._cache.pop(room_id, None)

    async def _in_any(self, user: UserID, rooms: tuple[RoomID, ...]) -> bool:
        for room in rooms:
            if room not in self._cache:
                members = await self._members(room)
                if members is None:
                    continue  # not in that room (yet): nobody gains a role from it
                self._cache[room] = members
            if user in self._cache[room]:
                return True
        return False

    async def roles(self, user: UserID) -> frozenset[Role]:
        found: set[Role] = set()
        if user in self._admins or await self._in_any(user, self._admin_rooms):
            found.add(Role.ADMIN)
        if user in self._workers or await self._in_any(user, self._worker_rooms):
            found.add(Role.WORKER)
        return frozenset(found or {Role.CLIENT})
