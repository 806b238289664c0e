"""People and rooms by name (#11.2), case labels (#11.4): the resolvers and the commands that use
them, against the fake homeserver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.commands.dispatch import handle_message
from bot.commands.registry import COMMANDS
from bot.consent import rights, runtime
from bot.context import BotContext
from bot.ids import RoomAlias, RoomID, UserID
from bot.people import ForeignAccount, PersonAmbiguous, PersonNotFound, find_account
from bot.roomnames import (
    CaseUnknown,
    RoomAmbiguous,
    RoomNotFound,
    case_number,
    clean_label,
    describe,
    find_room,
    names_the_person,
    pending_label,
    split_case,
)
from bot.store.consent import Intake
from tests.support import FakeMatrix, make_context

WORKER = UserID("@anna:example.org")
OTHER_WORKER = UserID("@ben:example.org")
ADMIN = UserID("@admin:example.org")
KIM = UserID("@kim:example.org")
KIM_B = UserID("@kberger:example.org")
KIM_W = UserID("@kwagner:example.org")
TEAM = RoomID("!team:example.org")
ADMIN_ROOM = RoomID("!admin:example.org")
INTAKE_ROOM = RoomID("!intake:example.org")
CONSULT = RoomID("!consult:example.org")
SPARE = RoomID("!spare:example.org")


@dataclass
class Env:
    ctx: BotContext
    matrix: FakeMatrix
    aliases: dict[str, RoomID]

    def de(self, key: str, **values: str) -> str:
        return self.ctx.catalog.text("de", key, **values)

    async def say(
        self, body: str, *, sender: UserID = WORKER, room: RoomID = TEAM, kind: str = "team"
    ) -> str:
        reply = await handle_message(
            self.ctx, COMMANDS, sender=sender, room_id=room, room_kind=kind, body=body
        )
        assert reply is not None
        return reply.text


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    ctx, matrix, db = await make_context(
        tmp_path,
        workers=[WORKER, OTHER_WORKER],
        admins=[ADMIN],
        rooms={"team": TEAM, "admin": ADMIN_ROOM},
    )
    db._batch_window = 0.0
    for worker in (WORKER, OTHER_WORKER):
        await ctx.consent.append(
            subject=ctx.subject(worker),
            scope="worker_rules",
            purpose="employment",
            notice_version=ctx.worker_rules.get().version,
            language="de",
            decision="acknowledged",
            method="command",
        )
    matrix.room_names.update({TEAM: "Team Nord", ADMIN_ROOM: "Lotse Admin"})
    aliases: dict[str, RoomID] = {}

    async def resolve_alias(alias: RoomAlias) -> RoomID | None:
        return aliases.get(alias)

    matrix.resolve_alias = resolve_alias  # type: ignore[attr-defined]
    try:
        yield Env(ctx, matrix, aliases)
    finally:
        await db.close()


async def case_with_room(env: Env, worker: UserID = WORKER) -> Intake:
    """Case #1: an intake with a counselling room, Kim the client, ``worker`` responsible."""
    ctx = env.ctx
    subject = await ctx.remember_person(KIM)
    intake = await ctx.consent.create_intake(
        INTAKE_ROOM, subject, worker=await ctx.remember_person(worker), notify_room=TEAM, state="active"
    )
    await ctx.state.set_room_kind(INTAKE_ROOM, "intake")
    await ctx.consent.update_intake(intake.intake_id, consultation_room=CONSULT)
    await ctx.state.set_room_kind(CONSULT, "consultation")
    env.matrix.room_names[CONSULT] = "Fall 1"
    env.matrix.room_members[CONSULT] = [WORKER, KIM]
    env.matrix.names[KIM] = "Kim Berger"
    fresh = await ctx.consent.intake_by_id(intake.intake_id)
    assert fresh is not None
    return fresh


# --- case numbers and labels -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "number"),
    [("#3", 3), ("3", 3), ("Fall 3", 3), ("fall #3", 3), ("case 3", 3), ("Nr. 3", 3), ("Beratung #3", 3)],
)
def test_case_numbers_as_people_type_them(typed: str, number: int) -> None:
    assert case_number(typed) == number


@pytest.mark.parametrize("typed", ["", "Team", "#team:example.org", "3a", "Fall", "-3"])
def test_what_is_no_case_number(typed: str) -> None:
    assert case_number(typed) is None


def test_split_case() -> None:
    assert split_case(["Fall", "3", "Wohnungssuche"]) == (3, ["Wohnungssuche"])
    assert split_case(["#3", "Wohnung", "suchen"]) == (3, ["Wohnung", "suchen"])
    assert split_case(["Wohnungssuche"]) == (None, ["Wohnungssuche"])


def test_labels_are_cleaned_and_short() -> None:
    assert clean_label(["  „Wohnungs", "suche“ "]) == "Wohnungs suche"
    assert clean_label(["a\u202eb\u200bc", "\x00d"]) == "abc d"
    assert len(clean_label(["x" * 100])) == 40


def test_a_label_must_not_be_the_clients_full_name() -> None:
    assert names_the_person("Kim Berger Wohnung", "Kim Berger", KIM)
    assert names_the_person("kim.berger", None, UserID("@kim.berger:example.org"))
    assert not names_the_person("Kim Wohnung", "Kim Berger", KIM)  # a first name is no full name
    assert not names_the_person("Wohnungssuche", "Kim Berger", KIM)


# --- rooms by what people type -----------------------------------------------------------------


async def test_a_room_by_id_alias_case_number_or_name(env: Env) -> None:
    ctx = env.ctx
    intake = await case_with_room(env)
    env.matrix.room_names[CONSULT] = "Fall 1 · Wohnungssuche"
    alias_room = RoomID("!aliased:example.org")
    env.aliases["#nord:example.org"] = alias_room
    assert await find_room(ctx, str(CONSULT)) == CONSULT
    v12 = "!" + "Ab3_-" * 9  # room version 12: no server part
    assert await find_room(ctx, v12) == v12
    assert await find_room(ctx, "#nord:example.org") == alias_room
    for typed in ("#1", "1", "Fall 1", "case #1"):
        assert await find_room(ctx, typed) == intake.consultation_room
    assert await find_room(ctx, "team nord") == TEAM
    assert await find_room(ctx, "„Lotse Admin“") == ADMIN_ROOM
    assert await find_room(ctx, "wohnung") == CONSULT  # a word of the name, begun
    assert await find_room(ctx, "lotse adm") == ADMIN_ROOM


async def test_a_case_without_a_counselling_room_is_its_one_to_one_chat(env: Env) -> None:
    ctx = env.ctx
    intake = await ctx.consent.create_intake(
        INTAKE_ROOM, ctx.subject(KIM), worker=None, notify_room=TEAM, state="consent"
    )
    assert await find_room(ctx, f"#{intake.intake_id}") == INTAKE_ROOM


async def test_unknown_and_ambiguous_rooms(env: Env) -> None:
    ctx = env.ctx
    await ctx.state.set_room_kind(SPARE, "group")
    env.matrix.room_names[SPARE] = "Team Süd"
    with pytest.raises(CaseUnknown):
        await find_room(ctx, "#9")
    with pytest.raises(RoomNotFound):
        await find_room(ctx, "Küche")
    with pytest.raises(RoomNotFound):
        await find_room(ctx, "#nirgends:example.org")
    with pytest.raises(RoomAmbiguous) as err:
        await find_room(ctx, "team")
    assert set(err.value.rooms) == {TEAM, SPARE}
    # "Team Süd" typed in full is one room; umlauts and case do not matter.
    assert await find_room(ctx, "TEAM SUD") == SPARE


async def test_ambiguity_is_asked_back_with_labels_people_can_type(env: Env) -> None:
    await case_with_room(env)
    await env.ctx.state.set_room_kind(SPARE, "consultation")
    env.matrix.room_names[SPARE] = "Fall 1"  # a room someone named like the case
    text = await env.say("!raumregel fall", sender=ADMIN, room=ADMIN_ROOM, kind="admin")
    assert text == env.de("roomref.ambiguous", word="fall", options="Fall #1, „Fall 1“")


async def test_replies_name_rooms_never_by_id(env: Env) -> None:
    ctx = env.ctx
    intake = await case_with_room(env)
    assert await describe(ctx, CONSULT, "de") == env.de("roomref.case", n=str(intake.intake_id))
    assert await describe(ctx, INTAKE_ROOM, "de") == env.de("roomref.intake_chat", n=str(intake.intake_id))
    assert await describe(ctx, TEAM, "de") == "„Team Nord“"
    await ctx.state.set_room_kind(SPARE, "group")
    assert await describe(ctx, SPARE, "en") == "a room without a name (group)"
    assert await describe(ctx, RoomID("!x:example.org"), "de") == env.de("roomref.unknown")


async def test_admin_room_commands_take_a_case_number(env: Env) -> None:
    await case_with_room(env)
    say = env.say
    text = await say("!raumregel #1", sender=ADMIN, room=ADMIN_ROOM, kind="admin")
    assert text.startswith("Fall #1: ") and CONSULT not in text
    text = await say("!zuweisen Fall 1 verwaltung", sender=ADMIN, room=ADMIN_ROOM, kind="admin")
    assert text == env.de("assign.done", room="Fall #1", before="–", after="verwaltung")
    text = await say("!aufbewahren #1 2030-01-31", sender=ADMIN, room=ADMIN_ROOM, kind="admin")
    assert text == env.de("hold.set", room="Fall #1", until="2030-01-31")
    assert await env.ctx.consent.hold_until(CONSULT, 0) is not None
    text = await say("!aufbewahren fall 1 aus", sender=ADMIN, room=ADMIN_ROOM, kind="admin")
    assert text == env.de("hold.lifted", room="Fall #1")
    text = await say("!aufbewahren Team Nord 2030-01-31", sender=ADMIN, room=ADMIN_ROOM, kind="admin")
    assert text == env.de("hold.set", room="„Team Nord“", until="2030-01-31")
    text = await say("!aufbewahren Küche 2030-01-31", sender=ADMIN, room=ADMIN_ROOM, kind="admin")
    assert text == env.de("roomref.not_found", word="Küche")


# --- people by name: !neu ----------------------------------------------------------------------


async def test_an_account_by_id_local_name_or_display_name(env: Env) -> None:
    ctx, matrix = env.ctx, env.matrix
    matrix.existing_users = {KIM, KIM_B}
    matrix.directory = {KIM: "Kim", KIM_B: "Kim Berger"}
    assert (await find_account(ctx, "@kberger:example.org")).user == KIM_B
    assert (await find_account(ctx, "@kberger:example.org")).name == "Kim Berger"
    assert (await find_account(ctx, "kberger")).user == KIM_B
    assert (await find_account(ctx, "@kberger")).user == KIM_B
    assert (await find_account(ctx, "Kim Berger")).user == KIM_B
    assert (await find_account(ctx, "kim b")).user == KIM_B
    # "kim" is the local name of @kim and the display name of @kim: one account.
    assert (await find_account(ctx, "kim")).user == KIM


async def test_an_account_is_asked_back_not_guessed(env: Env) -> None:
    ctx, matrix = env.ctx, env.matrix
    matrix.existing_users = {KIM, KIM_B, KIM_W}
    # @kim exists, and someone else calls themselves "Kim": two people, asked back.
    matrix.directory = {KIM: "Kim Maier", KIM_B: "Kim", KIM_W: "Kim Wagner"}
    with pytest.raises(PersonAmbiguous) as err:
        await find_account(ctx, "kim")
    assert {o.user for o in err.value.options} == {KIM, KIM_B}
    matrix.directory = {KIM_B: "Kim Berger", KIM_W: "Kim Wagner"}
    matrix.existing_users = {KIM_B, KIM_W}
    with pytest.raises(PersonAmbiguous) as err:
        await find_account(ctx, "kim")
    assert {o.user for o in err.value.options} == {KIM_B, KIM_W}
    with pytest.raises(PersonNotFound):
        await find_account(ctx, "niemand")
    with pytest.raises(PersonNotFound):
        await find_account(ctx, "@niemand:example.org")
    with pytest.raises(ForeignAccount):
        await find_account(ctx, "@kim:elsewhere.org")


async def test_new_by_name_asks_back_and_takes_a_label(env: Env) -> None:
    ctx, matrix = env.ctx, env.matrix
    matrix.existing_users = {KIM_B, KIM_W}
    matrix.directory = {KIM_B: "Kim Berger", KIM_W: "Kim Wagner"}
    text = await env.say("!neu kim")
    assert text == env.de(
        "person.ambiguous",
        word="kim",
        options="Kim Berger (@kberger:example.org), Kim Wagner (@kwagner:example.org)",
    )
    assert matrix.created == []
    text = await env.say("!neu Kim Berger Wohnungssuche")
    [created] = matrix.created
    assert created["invite"] == [KIM_B]
    assert text.splitlines() == [
        env.de("intake.new.created", n="1", user="Kim Berger (@kberger:example.org)"),
        env.de("casename.later", n="1", name="Fall 1 · Wohnungssuche"),
    ]
    assert await pending_label(ctx, 1) == "Wohnungssuche"


async def test_new_refuses_with_what_to_type_instead(env: Env) -> None:
    matrix = env.matrix
    matrix.existing_users = {KIM_B}
    matrix.directory = {KIM_B: "Kim Berger"}
    assert await env.say("!neu") == env.de("intake.new.usage", server="example.org")
    assert await env.say("!neu niemand da") == env.de(
        "intake.new.not_found", word="niemand da", server="example.org"
    )
    assert await env.say("!neu @kim:elsewhere.org") == env.de("intake.new.foreign", server="example.org")
    assert await env.say("!neu kberger Kim Berger") == env.de(
        "casename.is_a_name", example=env.de("casename.example_label")
    )
    assert matrix.created == []


async def test_the_counselling_room_is_named_with_the_label_never_the_client(env: Env) -> None:
    ctx, matrix = env.ctx, env.matrix
    matrix.existing_users = {KIM_B}
    matrix.directory = {KIM_B: "Kim Berger"}
    await env.say("!neu kberger Wohnungssuche")
    intake = await ctx.consent.intake_by_id(1)
    assert intake is not None
    await runtime.open_consultation(ctx, intake, "$cause")
    assert matrix.created[-1]["name"] == "Fall 1 · Wohnungssuche"
    assert await pending_label(ctx, 1) is None  # the room's name carries it now


async def test_a_room_without_label_is_named_by_its_case_number(env: Env) -> None:
    ctx, matrix = env.ctx, env.matrix
    matrix.existing_users = {KIM_B}
    await env.say("!neu kberger")
    intake = await ctx.consent.intake_by_id(1)
    assert intake is not None
    await runtime.open_consultation(ctx, intake, "$cause")
    assert matrix.created[-1]["name"] == "Fall 1"


# --- !fallname ---------------------------------------------------------------------------------


async def test_case_label_in_the_team_room_and_in_the_counselling_room(env: Env) -> None:
    await case_with_room(env)
    matrix = env.matrix
    assert await env.say("!fallname 1 Wohnungssuche") == env.de(
        "casename.set", n="1", name="Fall 1 · Wohnungssuche"
    )
    assert matrix.room_names[CONSULT] == "Fall 1 · Wohnungssuche"
    text = await env.say("!fallname Schulden", room=CONSULT, kind="consultation")
    assert text == env.de("casename.set", n="1", name="Fall 1 · Schulden")
    # The English word answers in English; the room's name stays in the organisation's language.
    answer = await env.say("!case-name #1 off")
    assert answer == env.ctx.catalog.text("en", "casename.set", n="1", name="Fall 1")
    assert matrix.room_names[CONSULT] == "Fall 1"


async def test_case_label_refusals_say_what_to_do(env: Env) -> None:
    await case_with_room(env)
    assert await env.say("!fallname") == env.de("casename.usage")
    assert await env.say("!fallname Wohnungssuche") == env.de("casename.usage")
    assert await env.say("!fallname 9 Wohnungssuche") == env.de("intake.unknown", n="9")
    assert await env.say("!fallname 1 Wohnungssuche", sender=OTHER_WORKER) == env.de(
        "intake.not_responsible", n="1"
    )
    assert await env.say("!fallname 1 Kim Berger") == env.de(
        "casename.is_a_name", example=env.de("casename.example_label")
    )
    assert env.matrix.room_names[CONSULT] == "Fall 1"


async def test_erasure_takes_the_label_off_the_room(env: Env) -> None:
    intake = await case_with_room(env)
    await env.say("!fallname 1 Wohnungssuche")
    await rights.erase(env.ctx, intake, "$erase")
    assert env.matrix.room_names[CONSULT] == "Fall 1"


async def test_requests_by_number_as_people_type_it(env: Env) -> None:
    ctx = env.ctx
    env.matrix.room_members[TEAM] = [WORKER]
    intake = await ctx.consent.create_intake(
        INTAKE_ROOM, ctx.subject(KIM), worker=None, notify_room=TEAM, state="consent"
    )
    assert await env.say("!antwort Anfrage 1") == env.de("intake.answer.usage")
    assert await env.say("!übernehmen Fall 9") == env.de("intake.unknown", n="9")
    assert await env.say("!übernehmen Fall") == env.de("intake.bad_number", word="Fall")
    await handle_message(
        ctx, COMMANDS, sender=WORKER, room_id=TEAM, room_kind="team", body="!übernehmen Fall 1"
    )
    claimed = await ctx.consent.intake_by_id(intake.intake_id)
    assert claimed is not None and claimed.worker == ctx.subject(WORKER)
    text = await env.say("!antwort Anfrage 1 Die Fotos sieht nur deine Fachkraft.")
    assert text == env.de("intake.answer.sent", n="1")
    assert any("Die Fotos sieht nur deine Fachkraft." in t for t in env.matrix.texts_to(INTAKE_ROOM))
