"""The rooms the configuration names ([rooms] admin, leadership, team; worker and admin rooms).

A room ID is used as configured. An alias is only a pointer that anyone on the homeserver may
have created, so the room behind it is used (and its members gain roles) only once it passes:

- **Resolved again until it resolves.** An alias that does not resolve at the start, or whose
  room is refused, is tried again every ``rooms.alias_retry_minutes``; a room set up later is
  used from then on, without a restart.
- **No squatters.** The room's creator (the sender of its ``m.room.create`` event, read from the
  room state the homeserver returns, never from what an event claims) must be the bot, an admin
  listed in ``roles.admins`` or, with the Synapse admin API, a server admin. Anyone else may
  have taken the alias first: the room is not used, the log says so (ERROR) and the admin room
  is told once.
- **Pinned.** The first room an alias was accepted for is kept in the key-value state. If the
  alias later points elsewhere, the new room is refused and the pinned one kept (ERROR, the
  admin room told once). A room moved on purpose is configured by its room ID.

The checks themselves (:func:`check_alias`, :class:`ConfiguredRefs`) take the homeserver and
the key-value state as small protocols, so they run against fakes in tests. Log lines name
aliases and room IDs, never a person.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from bot.ids import EventID, RoomAlias, RoomID, UserID, parse_room_id, txn_id_for

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.context import BotContext
    from bot.i18n import Catalog
    from bot.roles import RoleResolver

log = logging.getLogger(__name__)
T = TypeVar("T")

# + alias → the room the alias was first accepted for.
PIN_KEY = "room_alias_pin:"
# + alias → the refused room the admin room was told about.
ALERT_KEY = "room_alias_alerted:"


class AliasPort(Protocol):
    """What the checks ask of the homeserver (a part of ``MatrixPort``)."""

    @property
    def user_id(self) -> UserID: ...

    async def resolve_alias(self, alias: RoomAlias) -> RoomID | None: ...

    async def room_creator(self, room_id: RoomID, *, admin_api: bool) -> UserID | None: ...

    async def is_server_admin(self, user_id: UserID) -> bool | None: ...


class AlertPort(Protocol):
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


class KeyValue(Protocol):
    async def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> Awaitable[None]: ...


class Status(enum.Enum):
    ACCEPTED = "accepted"  # a trusted creator's room, or the pinned one
    UNRESOLVED = "unresolved"  # no such alias (yet)
    UNVERIFIABLE = "unverifiable"  # resolves, but who created the room cannot be read
    SQUATTED = "squatted"  # someone else's room: refused
    MOVED = "moved"  # points elsewhere than the pinned room: the new room refused


@dataclass(frozen=True)
class Outcome:
    alias: RoomAlias
    status: Status
    # The room used for the alias: accepted, or the pinned one when the alias moved.
    room: RoomID | None = None
    # The room the alias points to that is not used.
    refused: RoomID | None = None
    # Why the room is trusted: "pinned", "the bot", "a listed admin", "a server admin".
    trusted_as: str | None = None


async def check_alias(
    port: AliasPort, kv: KeyValue, alias: RoomAlias, *, admins: frozenset[UserID], admin_api: bool
) -> Outcome:
    """Resolve one configured alias and decide whether its room may be used; pin it if so."""
    pinned_value = await kv.get(PIN_KEY + alias)
    pinned = RoomID(pinned_value) if pinned_value else None
    room = await port.resolve_alias(alias)
    if pinned is not None:
        if room is None or room == pinned:
            return Outcome(alias, Status.ACCEPTED, pinned, trusted_as="pinned")
        return Outcome(alias, Status.MOVED, pinned, refused=room)
    if room is None:
        return Outcome(alias, Status.UNRESOLVED)
    creator = await port.room_creator(room, admin_api=admin_api)
    if creator is None:
        return Outcome(alias, Status.UNVERIFIABLE, refused=room)
    if creator == port.user_id:
        trusted = "the bot"
    elif creator in admins:
        trusted = "a listed admin"
    elif admin_api and await port.is_server_admin(creator):
        trusted = "a server admin"
    else:
        return Outcome(alias, Status.SQUATTED, refused=room)
    await kv.put(PIN_KEY + alias, room)
    return Outcome(alias, Status.ACCEPTED, room, trusted_as=trusted)


def _unique(items: Iterable[T]) -> list[T]:
    return list(dict.fromkeys(items))


@dataclass
class ConfiguredRefs:
    """The configured room references and the rooms they stand for so far."""

    kinds: Mapping[str, str]  # room kind → ref ([rooms] admin, leadership, team)
    worker_refs: tuple[str, ...] = ()
    admin_refs: tuple[str, ...] = ()
    admins: frozenset[UserID] = frozenset()
    admin_api: bool = False
    retry_minutes: float = 5.0
    # ref → room: room IDs at once, aliases once accepted (never dropped: pins do not move).
    resolved: dict[str, RoomID] = field(default_factory=dict)
    # What the log said already in this process: (status, alias, room).
    _logged: set[tuple[Status, str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        for ref in self._refs():
            if not ref.startswith("#"):
                self.resolved[ref] = parse_room_id(ref)

    @classmethod
    def from_settings(cls, s: Settings) -> ConfiguredRefs:
        return cls(
            kinds={kind: str(ref) for kind, ref in s.rooms.configured().items()},
            worker_refs=tuple(s.roles.worker_rooms),
            admin_refs=tuple(s.roles.admin_rooms),
            admins=frozenset(UserID(u) for u in s.roles.admins),
            admin_api=s.homeserver.admin_api,
            retry_minutes=s.rooms.alias_retry_minutes,
        )

    def _refs(self) -> list[str]:
        return _unique([*self.kinds.values(), *self.worker_refs, *self.admin_refs])

    @property
    def aliases(self) -> list[RoomAlias]:
        return [RoomAlias(ref) for ref in self._refs() if ref.startswith("#")]

    @property
    def pending(self) -> list[RoomAlias]:
        """Aliases with no room yet."""
        return [alias for alias in self.aliases if alias not in self.resolved]

    def rooms(self) -> tuple[dict[RoomID, str], list[RoomID], list[RoomID]]:
        """(room → kind, worker rooms, admin rooms) for the refs resolved so far."""
        configured: dict[RoomID, str] = {}
        for kind, ref in self.kinds.items():
            if ref in self.resolved:
                configured[self.resolved[ref]] = kind
        workers = _unique(self.resolved[r] for r in self.worker_refs if r in self.resolved)
        admins = _unique(self.resolved[r] for r in self.admin_refs if r in self.resolved)
        for room in workers + admins:
            configured.setdefault(room, "team")
        return configured, workers, admins

    async def resolve(self, port: AliasPort, kv: KeyValue) -> list[Outcome]:
        """Check every configured alias again (pending ones may resolve now, accepted ones may
        have moved); remember the rooms that may be used."""
        outcomes: list[Outcome] = []
        for alias in self.aliases:
            try:
                outcome = await check_alias(port, kv, alias, admins=self.admins, admin_api=self.admin_api)
            except Exception as exc:  # the homeserver failing: the next round tries again
                log.warning(
                    "checking room alias %s failed (%s); trying again later", alias, type(exc).__name__
                )
                continue
            if outcome.room is not None:
                self.resolved[alias] = outcome.room
            self._log(outcome)
            outcomes.append(outcome)
        return outcomes

    def _log(self, o: Outcome) -> None:
        key = (o.status, str(o.alias), str(o.refused or o.room or ""))
        if key in self._logged:
            return
        self._logged.add(key)
        if o.status is Status.ACCEPTED:
            why = "pinned at its first use" if o.trusted_as == "pinned" else f"created by {o.trusted_as}"
            log.info("room alias %s: using room %s (%s)", o.alias, o.room, why)
        elif o.status is Status.UNRESOLVED:
            log.warning(
                "room alias %s does not resolve; trying again every %g minutes", o.alias, self.retry_minutes
            )
        elif o.status is Status.UNVERIFIABLE:
            log.warning(
                "room alias %s points to room %s, whose creator Lotse cannot read (not a member, "
                "no admin API); not using it until it can",
                o.alias,
                o.refused,
            )
        elif o.status is Status.SQUATTED:
            log.error(
                "room alias %s points to room %s, which neither the bot, a listed admin nor a server "
                "admin created (someone may have taken the alias first): refusing that room",
                o.alias,
                o.refused,
            )
        else:
            log.error(
                "room alias %s now points to room %s, not to room %s where it first pointed: "
                "refusing the new room, keeping %s",
                o.alias,
                o.refused,
                o.room,
                o.room,
            )


def apply(refs: ConfiguredRefs, configured_rooms: dict[RoomID, str], roles: RoleResolver) -> None:
    """Update the context's room table and the role resolver's rooms in place."""
    configured, workers, admins = refs.rooms()
    if configured != configured_rooms:
        configured_rooms.clear()
        configured_rooms.update(configured)
    roles.set_rooms(workers, admins)


async def tell_admin_room(
    port: AlertPort,
    kv: KeyValue,
    catalog: Catalog,
    admin_room: RoomID | None,
    outcomes: Iterable[Outcome],
) -> None:
    """Each refused room once (kept across restarts); while no admin room is known, later."""
    for o in outcomes:
        if o.status not in (Status.SQUATTED, Status.MOVED) or o.refused is None or admin_room is None:
            continue
        if await kv.get(ALERT_KEY + o.alias) == o.refused:
            continue
        key = "room.alias.squatted" if o.status is Status.SQUATTED else "room.alias.moved"
        text = catalog.text(catalog.default_language, key, alias=o.alias, room=o.refused, pinned=o.room or "")
        sent = await port.send_text(admin_room, text, txn_id_for("alias-refused", o.alias, o.refused))
        if sent is not None:
            await kv.put(ALERT_KEY + o.alias, o.refused)


async def refresh(ctx: BotContext, refs: ConfiguredRefs, *, alert: bool = True) -> None:
    """One round: check the aliases, use the rooms that passed, tell the admin room of refusals.
    At the start ``alert`` is off (nothing is synced yet); the periodic job tells."""
    outcomes = await refs.resolve(ctx.matrix, ctx.state)
    apply(refs, ctx.configured_rooms, ctx.roles)
    if alert:
        await tell_admin_room(ctx.matrix, ctx.state, ctx.catalog, ctx.admin_room(), outcomes)
