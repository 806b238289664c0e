"""The context object handed to every handler: everything a handler may use, nothing global."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.config import Settings
from bot.i18n import Catalog
from bot.ids import RoomID, UserID
from bot.pseudonym import Pseudonymizer
from bot.roles import RoleResolver
from bot.store.state import StateStore


class HomeserverStatus(Protocol):
    @property
    def online(self) -> bool: ...


@dataclass
class BotContext:
    settings: Settings
    catalog: Catalog
    state: StateStore
    pseudonyms: Pseudonymizer
    roles: RoleResolver
    homeserver: HomeserverStatus
    # room ID → kind for rooms the configuration names (admin, leadership, team).
    configured_rooms: dict[RoomID, str] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    started_at: float = field(default_factory=time.time)

    def subject(self, user: UserID) -> str:
        """The pseudonym under which the store keeps a person's data."""
        return self.pseudonyms(user)

    def log_tag(self, user: UserID) -> str:
        """How a person appears in a log line."""
        return self.pseudonyms.short(user)

    async def language_of(self, user: UserID) -> str | None:
        return await self.state.language(self.subject(user))
