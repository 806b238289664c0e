"""bot/invites.py: which invitations the bot accepts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.ids import RoomID, UserID
from bot.invites import InviteDecision, decide_invite
from bot.roles import Role

OWN = "example.org"
ROOM = RoomID("!room:example.org")
TEAM_ROOM = RoomID("!team:example.org")
CONFIGURED = {TEAM_ROOM: "team", RoomID("!admin:example.org"): "admin"}

CLIENT = frozenset({Role.CLIENT})
WORKER = frozenset({Role.WORKER})
ADMIN = frozenset({Role.ADMIN})


def decide(
    *,
    inviter: str = "@someone:example.org",
    room_id: RoomID = ROOM,
    is_direct: bool = False,
    roles: frozenset[Role] = CLIENT,
    own_server: str = OWN,
) -> InviteDecision:
    return decide_invite(
        room_id=room_id,
        inviter=UserID(inviter),
        is_direct=is_direct,
        own_server=own_server,
        inviter_roles=roles,
        configured_rooms=CONFIGURED,
    )


@pytest.mark.parametrize("is_direct", [True, False])
@pytest.mark.parametrize("roles", [CLIENT, WORKER, ADMIN, WORKER | ADMIN])
@pytest.mark.parametrize("room_id", [ROOM, TEAM_ROOM])
def test_foreign_inviter_is_refused(is_direct: bool, roles: frozenset[Role], room_id: RoomID) -> None:
    d = decide(inviter="@eve:evil.example", is_direct=is_direct, roles=roles, room_id=room_id)
    assert d == InviteDecision(False, None, "invite.reject.foreign")


def test_same_host_other_port_is_foreign() -> None:
    d = decide(inviter="@eve:example.org:8448", roles=ADMIN)
    assert d.accept is False
    assert d.reason_key == "invite.reject.foreign"


def test_subdomain_is_foreign() -> None:
    assert decide(inviter="@eve:matrix.example.org", roles=ADMIN).accept is False


@pytest.mark.parametrize("is_direct", [True, False])
@pytest.mark.parametrize("roles", [CLIENT, WORKER, ADMIN])
def test_configured_room_from_own_server_accepted_with_its_kind(
    is_direct: bool, roles: frozenset[Role]
) -> None:
    d = decide(room_id=TEAM_ROOM, is_direct=is_direct, roles=roles)
    assert d == InviteDecision(True, "team", None)


@pytest.mark.parametrize("roles", [WORKER, ADMIN, WORKER | ADMIN])
def test_staff_group_invite_accepted_as_group(roles: frozenset[Role]) -> None:
    assert decide(roles=roles, is_direct=False) == InviteDecision(True, "group", None)


@pytest.mark.parametrize("roles", [WORKER, ADMIN])
def test_staff_direct_invite_accepted_as_direct(roles: frozenset[Role]) -> None:
    assert decide(roles=roles, is_direct=True) == InviteDecision(True, "direct", None)


def test_client_direct_invite_is_an_intake() -> None:
    # A client of the own server writing to the bot 1:1: that room is the client's intake.
    assert decide(roles=CLIENT, is_direct=True) == InviteDecision(True, "intake", None)


def test_client_direct_invite_to_a_configured_room_keeps_the_configured_kind() -> None:
    assert decide(roles=CLIENT, is_direct=True, room_id=TEAM_ROOM) == InviteDecision(True, "team", None)


def test_foreign_client_direct_invite_is_no_intake() -> None:
    d = decide(inviter="@client:other.example", roles=CLIENT, is_direct=True)
    assert d == InviteDecision(False, None, "invite.reject.foreign")


def test_client_group_invite_refused() -> None:
    assert decide(roles=CLIENT, is_direct=False) == InviteDecision(False, None, "invite.reject.group")


def test_refusals_carry_a_reason_and_acceptances_a_kind() -> None:
    for d in (decide(roles=CLIENT), decide(inviter="@x:other.org")):
        assert not d.accept
        assert d.room_kind is None
        assert d.reason_key is not None
    for d in (decide(roles=CLIENT, is_direct=True), decide(roles=WORKER)):
        assert d.accept
        assert d.room_kind is not None
        assert d.reason_key is None


_SERVER = st.from_regex(r"[a-z0-9][a-z0-9.\-]{0,20}(:[0-9]{1,5})?", fullmatch=True)
_LOCAL = st.from_regex(r"[a-z0-9._=\-]{1,20}", fullmatch=True)
_ROLES = st.frozensets(st.sampled_from(list(Role)), min_size=1)


@given(
    local=_LOCAL,
    server=_SERVER.filter(lambda s: s != OWN),
    roles=_ROLES,
    is_direct=st.booleans(),
    room_id=st.sampled_from([ROOM, TEAM_ROOM, RoomID("!admin:example.org")]),
)
def test_property_foreign_inviter_never_accepted(
    local: str, server: str, roles: frozenset[Role], is_direct: bool, room_id: RoomID
) -> None:
    d = decide(inviter=f"@{local}:{server}", roles=roles, is_direct=is_direct, room_id=room_id)
    assert d.accept is False
    assert d.reason_key == "invite.reject.foreign"


@given(local=_LOCAL, roles=_ROLES, is_direct=st.booleans())
def test_property_own_server_direct_always_accepted(
    local: str, roles: frozenset[Role], is_direct: bool
) -> None:
    d = decide(inviter=f"@{local}:{OWN}", roles=roles, is_direct=True)
    assert d.accept is True
    # Staff get a plain 1:1 room; everyone else starts an intake.
    staff = bool(roles & {Role.WORKER, Role.ADMIN})
    assert d.room_kind == ("direct" if staff else "intake")
