"""The context object handed to every handler: everything a handler may use, nothing global."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.config import Settings
from bot.consent.notices import NoticeHolder
from bot.i18n import Catalog
from bot.ids import EventID, RoomAlias, RoomID, UserID
from bot.matrix.events import Recorded
from bot.metrics import Metrics
from bot.pseudonym import Pseudonymizer
from bot.retention.policy import PolicyHolder
from bot.roles import RoleResolver
from bot.scheduler import Scheduler
from bot.sealing import Sealer
from bot.store.consent import ConsentStore
from bot.store.invitations import InvitationStore
from bot.store.retention import RetentionStore
from bot.store.state import StateStore
from bot.store.stats import StatsStore


class MatrixPort(Protocol):
    """What handlers may ask of the homeserver. The gateway implements it; tests may fake it."""

    @property
    def online(self) -> bool: ...

    @property
    def user_id(self) -> UserID: ...

    async def send_text(
        self,
        room_id: RoomID,
        body: str,
        txn_id: str,
        *,
        reply_to: EventID | None = None,
        html: str | None = None,
        notice: bool = True,
    ) -> EventID | None: ...

    async def send_file(
        self, room_id: RoomID, data: bytes, filename: str, mimetype: str, txn_id: str
    ) -> EventID | None: ...

    async def create_room(
        self,
        *,
        name: str | None,
        invite: list[UserID],
        is_direct: bool,
        moderators: Any = (),
        locked_down: bool = True,
    ) -> RoomID | None: ...

    async def invite(self, room_id: RoomID, user_id: UserID) -> bool: ...

    async def kick(self, room_id: RoomID, user_id: UserID, reason: str) -> bool: ...

    async def user_exists(self, user_id: UserID) -> bool: ...

    async def change_power_levels(self, room_id: RoomID, changes: dict[str, Any]) -> bool: ...

    async def set_user_power(self, room_id: RoomID, user_id: UserID, level: int) -> bool: ...

    async def redact(self, room_id: RoomID, event_id: EventID, reason: str) -> bool: ...

    # Joined and invited members as the homeserver says (None: no answer).
    async def room_audience(self, room_id: RoomID) -> set[UserID] | None: ...

    # IDs of the room's message-like events the homeserver still serves unredacted (None: no
    # answer, or more than ``limit``).
    async def served_events(self, room_id: RoomID, limit: int = 100_000) -> set[EventID] | None: ...

    async def redact_as_user(
        self, user_id: UserID, rooms: list[RoomID], reason: str
    ) -> dict[EventID, str] | None: ...

    async def delete_media(self, mxc: str) -> bool: ...

    # Registration tokens (Synapse admin API): invitations for people without an account.
    async def create_registration_token(self, token: str, expiry_ms: int) -> bool: ...

    async def registration_token_uses(self) -> dict[str, int] | None: ...

    async def delete_registration_token(self, token: str) -> bool: ...

    def is_encrypted(self, room_id: RoomID) -> bool: ...

    def display_name(self, room_id: RoomID, user_id: UserID) -> str | None: ...

    def members(self, room_id: RoomID) -> list[UserID]: ...

    async def room_name(self, room_id: RoomID) -> str | None: ...

    # Local accounts whose ID or display name matches a search word: (user, display name).
    async def search_users(self, term: str, *, admin_api: bool) -> list[tuple[UserID, str | None]]: ...

    async def server_time_ms(self) -> int | None: ...

    async def media_uploader(self, mxc: str) -> UserID | None: ...

    async def set_room_state(self, room_id: RoomID, event_type: str, content: dict[str, Any]) -> bool: ...

    async def purge_history(self, room_id: RoomID, up_to_ms: int) -> bool: ...

    async def room_history(self, room_id: RoomID, max_events: int = 50_000) -> list[Recorded]: ...

    async def messages_of(
        self, room_id: RoomID, sender: UserID, max_events: int = 10_000
    ) -> list[tuple[int, str]]: ...

    async def resolve_alias(self, alias: RoomAlias) -> RoomID | None: ...

    async def room_creator(self, room_id: RoomID, *, admin_api: bool) -> UserID | None: ...

    async def is_server_admin(self, user_id: UserID) -> bool | None: ...


@dataclass
class BotContext:
    settings: Settings
    catalog: Catalog
    state: StateStore
    pseudonyms: Pseudonymizer
    roles: RoleResolver
    matrix: MatrixPort
    consent: ConsentStore
    sealer: Sealer
    consent_notices: NoticeHolder
    worker_rules: NoticeHolder
    retention: RetentionStore
    policies: PolicyHolder
    stats: StatsStore
    # room ID → kind for rooms the configuration names (admin, leadership, team).
    configured_rooms: dict[RoomID, str] = field(default_factory=dict)
    scheduler: Scheduler = field(default_factory=Scheduler)
    # One retention sweep at a time, scheduled or started by an admin: never the same
    # redaction counted twice, never two sweeps competing for the homeserver.
    sweep_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Aliases named in policy files, resolved to room IDs at start-up and on reload.
    policy_rooms: dict[str, RoomID] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    started_at: float = field(default_factory=time.time)
    # Where the join page for invitations is reachable (set once its server listens).
    join_page_url: str | None = None
    # Prometheus figures of this bot (its own registry; no personal data in any label).
    metrics: Metrics = field(default_factory=Metrics)
    # A period's first freeze counts in a process of its own (the bot and ``lotse report``);
    # off, in this process (tests that look inside the counting).
    freeze_in_child: bool = False

    def room_of_kind(self, kind: str) -> RoomID | None:
        return next((room for room, k in self.configured_rooms.items() if k == kind), None)

    def team_room(self) -> RoomID | None:
        return self.room_of_kind("team")

    @property
    def invitations(self) -> InvitationStore:
        """Invitations for clients without an account (their tables share the one database)."""
        return InvitationStore(self.consent.db)

    def admin_room(self) -> RoomID | None:
        return self.room_of_kind("admin")

    def subject(self, user: UserID) -> str:
        """The pseudonym under which the store keeps a person's data."""
        return self.pseudonyms(user)

    def log_tag(self, user: UserID) -> str:
        """How a person appears in a log line."""
        return self.pseudonyms.short(user)

    async def language_of(self, user: UserID) -> str | None:
        return await self.state.language(self.subject(user))

    async def remember_person(self, user: UserID) -> str:
        """Keep a person's ID sealed so the bot can contact them again; return the pseudonym."""
        subject = self.subject(user)
        await self.consent.put_person(subject, self.sealer.seal(user, subject))
        return subject

    async def person(self, subject: str) -> UserID | None:
        sealed = await self.consent.sealed_id(subject)
        return None if sealed is None else UserID(self.sealer.open(sealed, subject))
