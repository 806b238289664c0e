"""bot/roomrefs.py: configured aliases resolved again until they resolve, squatters refused,
the first accepted room pinned; against a fake homeserver (and the real key-value store)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.context import BotContext
from bot.ids import EventID, RoomAlias, RoomID, UserID
from bot.roles import Role, RoleResolver
from bot.roomrefs import ALERT_KEY, PIN_KEY, ConfiguredRefs, Status, check_alias, refresh
from tests.support import BOT, make_context

ADMIN = UserID("@admin:example.org")
BOSS = UserID("@serveradmin:example.org")
SQUATTER = UserID("@squatter:example.org")
MEMBER = UserID("@member:example.org")
TEAM_ALIAS = RoomAlias("#team:example.org")
ADMIN_ALIAS = RoomAlias("#lotse-admin:example.org")
ADMIN_ROOM = RoomID("!admin:example.org")
TEAM = RoomID("!team:example.org")
SQUAT = RoomID("!squat:example.org")
NEW_TEAM = RoomID("!newteam:example.org")


@dataclass
class FakeServer:
    """The homeserver as the alias checks see it: a room directory, each room's creator (from
    its m.room.create event) and the admin API's view of who is a server admin."""

    user_id: UserID = BOT
    aliases: dict[str, RoomID] = field(default_factory=dict)
    creators: dict[RoomID, UserID] = field(default_factory=dict)
    server_admins: set[UserID] = field(default_factory=set)
    admin_api_answers: bool = True
    failing: set[str] = field(default_factory=set)  # aliases whose lookup raises
    sent: list[tuple[RoomID, str, str]] = field(default_factory=list)
    state_reads: list[tuple[RoomID, bool]] = field(default_factory=list)

    async def resolve_alias(self, alias: RoomAlias) -> RoomID | None:
        if alias in self.failing:
            raise ConnectionError("homeserver unreachable")
        return self.aliases.get(alias)

    async def room_creator(self, room_id: RoomID, *, admin_api: bool) -> UserID | None:
        self.state_reads.append((room_id, admin_api))
        return self.creators.get(room_id)

    async def is_server_admin(self, user_id: UserID) -> bool | None:
        return (user_id in self.server_admins) if self.admin_api_answers else None

    async def send_text(
        self,
        room_id: RoomID,
        body: str,
        txn_id: str,
        *,
        reply_to: EventID | None = None,
        html: str | None = None,
        notice: bool = True,
    ) -> EventID | None:
        if any(t == txn_id for _, _, t in self.sent):
            return None  # the homeserver deduplicates transaction IDs
        self.sent.append((room_id, body, txn_id))
        return EventID(f"$sent{len(self.sent)}")

    def texts_to(self, room_id: RoomID) -> list[str]:
        return [body for room, body, _ in self.sent if room == room_id]


class FakeKV(dict[str, str]):
    async def get(self, key: str) -> str | None:  # type: ignore[override]
        return super().get(key)

    async def put(self, key: str, value: str) -> None:
        self[key] = value


def refs_for(
    *,
    kinds: dict[str, str] | None = None,
    workers: tuple[str, ...] = (TEAM_ALIAS,),
    admin_rooms: tuple[str, ...] = (),
    admin_api: bool = True,
) -> ConfiguredRefs:
    return ConfiguredRefs(
        kinds=kinds if kinds is not None else {"team": TEAM_ALIAS},
        worker_refs=workers,
        admin_refs=admin_rooms,
        admins=frozenset({ADMIN}),
        admin_api=admin_api,
    )


# --- who may have created the room ------------------------------------------------------------


@pytest.mark.parametrize(
    ("creator", "admin_api", "answers", "status"),
    [
        (BOT, False, True, Status.ACCEPTED),
        (ADMIN, False, True, Status.ACCEPTED),
        (BOSS, True, True, Status.ACCEPTED),
        (BOSS, False, True, Status.SQUATTED),  # no admin API: a server admin is not known as one
        (BOSS, True, False, Status.SQUATTED),  # the admin API does not answer: not trusted
        (SQUATTER, True, True, Status.SQUATTED),
    ],
)
async def test_only_the_bot_a_listed_admin_or_a_server_admin_may_have_created_the_room(
    creator: UserID, admin_api: bool, answers: bool, status: Status
) -> None:
    server = FakeServer(
        aliases={TEAM_ALIAS: TEAM},
        creators={TEAM: creator},
        server_admins={BOSS},
        admin_api_answers=answers,
    )
    kv = FakeKV()
    outcome = await check_alias(server, kv, TEAM_ALIAS, admins=frozenset({ADMIN}), admin_api=admin_api)
    assert outcome.status is status
    assert server.state_reads == [(TEAM, admin_api)]  # the creator is read from the server
    if status is Status.ACCEPTED:
        assert (outcome.room, kv[PIN_KEY + TEAM_ALIAS]) == (TEAM, TEAM)
    else:
        assert (outcome.room, outcome.refused) == (None, TEAM)
        assert PIN_KEY + TEAM_ALIAS not in kv  # a refused room is never pinned


async def test_a_room_whose_creator_cannot_be_read_is_not_used_yet() -> None:
    server = FakeServer(aliases={TEAM_ALIAS: TEAM})  # no creator known: state not readable
    refs, kv = refs_for(), FakeKV()
    [outcome] = await refs.resolve(server, kv)
    assert (outcome.status, outcome.refused) == (Status.UNVERIFIABLE, TEAM)
    assert refs.rooms() == ({}, [], [])
    assert refs.pending == [TEAM_ALIAS]

    server.creators[TEAM] = ADMIN  # e.g. the bot was invited and can read the state now
    await refs.resolve(server, kv)
    assert refs.rooms() == ({TEAM: "team"}, [TEAM], [])


# --- resolved again until it resolves -----------------------------------------------------------


async def test_an_alias_created_after_the_start_is_used_from_the_next_round(tmp_path: Path) -> None:
    ctx, _, db = await make_context(tmp_path, admins=[ADMIN])
    try:
        server = FakeServer()
        ctx.matrix = server  # type: ignore[assignment]
        members = {TEAM: {MEMBER}}

        async def lookup(room: RoomID) -> set[UserID] | None:
            return members.get(room)

        ctx.roles = RoleResolver([], [ADMIN], [], [], lookup)
        table = ctx.configured_rooms
        refs = refs_for(kinds={"team": TEAM_ALIAS, "admin": ADMIN_ROOM})

        await refresh(ctx, refs, alert=False)  # the start: the alias does not exist yet
        assert ctx.configured_rooms == {ADMIN_ROOM: "admin"}
        assert await ctx.roles.roles(MEMBER) == {Role.CLIENT}
        assert refs.pending == [TEAM_ALIAS]

        server.aliases[TEAM_ALIAS] = TEAM  # an admin sets the room up
        server.creators[TEAM] = ADMIN
        await refresh(ctx, refs)
        assert ctx.configured_rooms is table  # updated in place: everyone holding it sees it
        assert ctx.configured_rooms == {ADMIN_ROOM: "admin", TEAM: "team"}
        assert ctx.team_room() == TEAM
        assert ctx.roles.roster_rooms == {TEAM}
        assert await ctx.roles.roles(MEMBER) == {Role.WORKER}
        assert refs.pending == []
        assert server.sent == []
    finally:
        await db.close()


async def test_room_ids_are_used_as_configured_without_asking_the_server() -> None:
    server = FakeServer()
    refs = refs_for(kinds={"admin": ADMIN_ROOM}, workers=(TEAM,), admin_rooms=(ADMIN_ROOM,))
    assert refs.aliases == []
    assert await refs.resolve(server, FakeKV()) == []
    assert refs.rooms() == ({ADMIN_ROOM: "admin", TEAM: "team"}, [TEAM], [ADMIN_ROOM])
    assert server.state_reads == []


async def test_a_failing_lookup_skips_that_alias_only() -> None:
    server = FakeServer(aliases={ADMIN_ALIAS: ADMIN_ROOM}, creators={ADMIN_ROOM: BOT}, failing={TEAM_ALIAS})
    refs = refs_for(kinds={"team": TEAM_ALIAS, "admin": ADMIN_ALIAS})
    outcomes = await refs.resolve(server, FakeKV())
    assert [(o.alias, o.status) for o in outcomes] == [(ADMIN_ALIAS, Status.ACCEPTED)]
    assert refs.pending == [TEAM_ALIAS]


# --- squatters ------------------------------------------------------------------------------


async def test_a_squatted_alias_is_refused_and_the_admin_room_told_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ctx, _, db = await make_context(tmp_path, admins=[ADMIN])
    try:
        server = FakeServer(aliases={TEAM_ALIAS: SQUAT}, creators={SQUAT: SQUATTER})
        ctx.matrix = server  # type: ignore[assignment]
        refs = refs_for(kinds={"team": TEAM_ALIAS, "admin": ADMIN_ROOM})
        caplog.set_level(logging.DEBUG, logger="bot.roomrefs")

        for _ in range(3):  # rounds of the background job
            await refresh(ctx, refs)
        assert SQUAT not in ctx.configured_rooms
        assert ctx.roles.roster_rooms == frozenset()
        [alert] = server.texts_to(ADMIN_ROOM)
        assert TEAM_ALIAS in alert and SQUAT in alert and "Alias" in alert
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1 and TEAM_ALIAS in errors[0].getMessage()
        assert not any(SQUATTER in r.getMessage() for r in caplog.records)  # no user IDs logged

        # After a restart: a new table of refs, the same store: still told only once.
        await refresh(ctx, refs_for(kinds={"team": TEAM_ALIAS, "admin": ADMIN_ROOM}))
        assert len(server.texts_to(ADMIN_ROOM)) == 1
        assert await ctx.state.get(ALERT_KEY + TEAM_ALIAS) == SQUAT

        # The squatter's room is gone and an admin's room takes the alias: used.
        server.aliases[TEAM_ALIAS] = TEAM
        server.creators[TEAM] = ADMIN
        await refresh(ctx, refs)
        assert ctx.team_room() == TEAM
    finally:
        await db.close()


async def test_a_refusal_is_told_once_the_admin_room_is_known(tmp_path: Path) -> None:
    ctx, _, db = await make_context(tmp_path, admins=[ADMIN])
    try:
        server = FakeServer(aliases={TEAM_ALIAS: SQUAT}, creators={SQUAT: SQUATTER})
        ctx.matrix = server  # type: ignore[assignment]
        refs = refs_for(kinds={"team": TEAM_ALIAS, "admin": ADMIN_ALIAS})
        await refresh(ctx, refs)
        assert server.sent == []  # nowhere to tell yet, and not marked as told

        server.aliases[ADMIN_ALIAS] = ADMIN_ROOM
        server.creators[ADMIN_ROOM] = BOT
        await refresh(ctx, refs)
        await refresh(ctx, refs)
        [alert] = server.texts_to(ADMIN_ROOM)
        assert TEAM_ALIAS in alert
    finally:
        await db.close()


# --- pinned ---------------------------------------------------------------------------------


@pytest.fixture
async def pinned_ctx(tmp_path: Path) -> AsyncIterator[tuple[BotContext, FakeServer]]:
    ctx, _, db = await make_context(tmp_path, admins=[ADMIN])
    server = FakeServer(aliases={TEAM_ALIAS: TEAM}, creators={TEAM: ADMIN, NEW_TEAM: ADMIN})
    ctx.matrix = server  # type: ignore[assignment]
    yield ctx, server
    await db.close()


async def test_an_alias_that_moves_keeps_its_first_room(
    pinned_ctx: tuple[BotContext, FakeServer], caplog: pytest.LogCaptureFixture
) -> None:
    ctx, server = pinned_ctx
    refs = refs_for(kinds={"team": TEAM_ALIAS, "admin": ADMIN_ROOM})
    await refresh(ctx, refs)
    assert ctx.team_room() == TEAM
    assert await ctx.state.get(PIN_KEY + TEAM_ALIAS) == TEAM

    # The alias now points to another room (even one an admin created): refused, TEAM kept.
    server.aliases[TEAM_ALIAS] = NEW_TEAM
    caplog.set_level(logging.INFO, logger="bot.roomrefs")
    for _ in range(3):
        await refresh(ctx, refs)
    assert ctx.team_room() == TEAM and NEW_TEAM not in ctx.configured_rooms
    assert ctx.roles.roster_rooms == {TEAM}
    [alert] = server.texts_to(ADMIN_ROOM)
    assert NEW_TEAM in alert and TEAM in alert
    assert [r.levelname for r in caplog.records if NEW_TEAM in r.getMessage()] == ["ERROR"]

    # After a restart the pin holds too, and nothing is told twice.
    fresh = refs_for(kinds={"team": TEAM_ALIAS, "admin": ADMIN_ROOM})
    ctx.configured_rooms.clear()
    await refresh(ctx, fresh, alert=False)
    await refresh(ctx, fresh)
    assert ctx.team_room() == TEAM
    assert len(server.texts_to(ADMIN_ROOM)) == 1


async def test_a_pinned_alias_that_no_longer_resolves_keeps_its_room(
    pinned_ctx: tuple[BotContext, FakeServer],
) -> None:
    ctx, server = pinned_ctx
    await refresh(ctx, refs_for())
    del server.aliases[TEAM_ALIAS]
    fresh = refs_for()  # a restart while the alias is gone
    await refresh(ctx, fresh, alert=False)
    assert ctx.team_room() == TEAM and ctx.roles.roster_rooms == {TEAM}
    assert server.sent == []


# --- the role resolver's rooms ----------------------------------------------------------------


async def test_role_rooms_are_replaced_in_place_and_stale_members_forgotten() -> None:
    members = {TEAM: {MEMBER}, NEW_TEAM: set[UserID]()}
    looked_up: list[RoomID] = []

    async def lookup(room: RoomID) -> set[UserID] | None:
        looked_up.append(room)
        return members[room]

    roles = RoleResolver([], [], [TEAM], [], lookup)
    assert await roles.roles(MEMBER) == {Role.WORKER}
    roles.set_rooms([NEW_TEAM], [TEAM])
    assert roles.roster_rooms == {TEAM, NEW_TEAM}
    assert await roles.roles(MEMBER) == {Role.ADMIN}
    roles.set_rooms([NEW_TEAM], [])
    assert await roles.roles(MEMBER) == {Role.CLIENT}
    assert looked_up.count(TEAM) == 1  # a room still granting roles keeps its cached members
