"""bot/matrix/keyshare.py: when a room's session is reopened for members' devices that lack it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.matrix.keyshare import ShareGuard

ROOM = "!r:x"
OWN = "BOTDEVICE"


@dataclass(frozen=True)
class Device:
    user_id: str
    id: str


@dataclass
class Session:
    id: str = "s1"
    shared: bool = True
    users_shared_with: set[tuple[str, str]] = field(default_factory=set)
    users_ignored: set[tuple[str, str]] = field(default_factory=set)


class Olm:
    def __init__(self, devices: dict[str, list[str]], session: Session | None, blacklisted: set[str]) -> None:
        self.device_id = OWN
        self.devices = devices
        self.outbound_group_sessions = {ROOM: session} if session else {}
        self.blacklisted = blacklisted
        self.device_store = self

    def active_user_devices(self, user_id: str) -> list[Device]:
        return [Device(user_id, d) for d in self.devices.get(user_id, [])]

    def is_device_blacklisted(self, device: Device) -> bool:
        return device.id in self.blacklisted


@dataclass
class Room:
    users: dict[str, Any]


class Client:
    def __init__(
        self,
        devices: dict[str, list[str]],
        session: Session | None,
        blacklisted: frozenset[str] = frozenset(),
    ) -> None:
        self.olm = Olm(devices, session, set(blacklisted))
        self.rooms = {ROOM: Room({u: None for u in devices})}
        self.sharing_session: dict[str, object] = {}


def test_a_member_device_without_the_session_reopens_it_once() -> None:
    session = Session(users_shared_with={("@a:x", "A1")})
    client = Client({"@a:x": ["A1"], "@new:x": ["N1"]}, session)
    guard = ShareGuard()
    assert guard.before_send(client, ROOM) and not session.shared
    # nio's send shares it and marks it shared again; a device it could not reach (no
    # one-time keys) is not tried before every message.
    session.shared = True
    assert not guard.before_send(client, ROOM) and session.shared
    # A device that appears later is.
    client.olm.devices["@new:x"].append("N2")
    assert guard.before_send(client, ROOM)


def test_a_complete_share_is_left_alone() -> None:
    session = Session(users_shared_with={("@a:x", "A1")}, users_ignored={("@bot:x", "OLD")})
    client = Client(
        {"@a:x": ["A1"], "@bot:x": [OWN, "OLD", "GONE"]}, session, blacklisted=frozenset({"GONE"})
    )
    assert not ShareGuard().before_send(client, ROOM) and session.shared


def test_nothing_to_reopen_without_a_shared_session_or_during_a_share() -> None:
    devices = {"@new:x": ["N1"]}
    assert not ShareGuard().before_send(Client(devices, None), ROOM)
    unshared = Session(shared=False)
    assert not ShareGuard().before_send(Client(devices, unshared), ROOM) and not unshared.shared
    sharing = Client(devices, Session())
    sharing.sharing_session[ROOM] = object()
    assert not ShareGuard().before_send(sharing, ROOM)
