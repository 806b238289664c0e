"""Office hours, absences, finding people by name, and the one automatic answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.commands.dispatch import handle_message
from bot.commands.registry import COMMANDS
from bot.context import BotContext
from bot.ids import RoomID, UserID
from bot.office import service
from bot.office.absence import Absence, AbsenceError, parse_absence
from bot.office.hours import HoursError, parse_hours
from bot.people import PersonAmbiguous, PersonNotFound, find_person
from bot.store.consent import Intake
from tests.support import FakeMatrix, acknowledge_rules, make_context

BERLIN = ZoneInfo("Europe/Berlin")
WORKER = UserID("@berger:example.org")
COLLEAGUE = UserID("@kim.wolf:example.org")
OTHER_KIM = UserID("@kim.k:example.org")
CLIENT = UserID("@client:example.org")
TEAM = RoomID("!team:example.org")
ROOM = RoomID("!beratung:example.org")


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """December 2026: Monday 7 is day 7, Saturday 5 is day 5."""
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=BERLIN)


# --- parsing office hours ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "spelled"),
    [
        ("Mo-Fr 9-16", "Mo–Fr 9:00–16:00"),
        ("mo - fr 9 - 16 Uhr", "Mo–Fr 9:00–16:00"),
        ("Mon-Fri 9:30-17", "Mo–Fr 9:30–17:00"),
        ("Mo-Do 9-16, Fr 9-13", "Mo–Do 9:00–16:00; Fr 9:00–13:00"),
        ("Mo,Mi 9-12 14-16", "Mo 9:00–12:00, 14:00–16:00; Mi 9:00–12:00, 14:00–16:00"),
        ("Di, Do 10-14", "Di 10:00–14:00; Do 10:00–14:00"),
        ("täglich 8-20", "Mo–So 8:00–20:00"),
        ("Montag 9.30-12", "Mo 9:30–12:00"),
        ("Mo-Fr 9-12 und 11-16", "Mo–Fr 9:00–16:00"),  # overlapping spans merge
    ],
)
def test_office_hours_as_people_type_them(typed: str, spelled: str) -> None:
    hours = parse_hours(typed)
    assert hours.spelled("de") == spelled
    assert parse_hours(hours.spelled("de").replace("–", "-")) == hours  # stored form reads back


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("", "office.hours_empty"),
        ("Mo-Fr", "office.no_times"),
        ("9-16", "office.no_days"),
        ("Mo-Fr 16-9", "office.end_before_start"),
        ("Mo-Fr 9-25", "office.bad_time"),
        ("Mo-Fr 9", "office.bad_word"),
        ("Feiertag 9-16", "office.bad_word"),
    ],
)
def test_what_is_not_office_hours_is_refused_with_the_reason(typed: str, key: str) -> None:
    with pytest.raises(HoursError) as err:
        parse_hours(typed)
    assert err.value.key == key


def test_open_and_next_opening() -> None:
    hours = parse_hours("Mo-Fr 9-16")
    assert hours.is_open(at(7, 9)) and not hours.is_open(at(7, 16)) and not hours.is_open(at(5, 10))
    assert hours.next_opening(at(4, 17)) == at(7, 9)  # Friday evening → Monday morning
    assert hours.next_opening(at(7, 8)) == at(7, 9)
    assert hours.next_opening(at(4, 17), [dt.date(2026, 12, 7)]) == at(8, 9)  # holiday Monday
    assert not hours.is_open(at(7, 10), [dt.date(2026, 12, 7)])
    assert parse_hours("Sa 10-11").next_opening(at(5, 10, 30)) == at(12, 10)


# --- parsing absences -------------------------------------------------------------------------

TODAY = dt.date(2026, 12, 3)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("bis 24.12.", Absence(TODAY, dt.date(2026, 12, 24))),
        ("bis 24.12. vertretung Kim Wolf", Absence(TODAY, dt.date(2026, 12, 24), "Kim Wolf")),
        ("20.12.-6.1.", Absence(dt.date(2026, 12, 20), dt.date(2027, 1, 6))),
        (
            "vom 20.12. bis 6.1. Vertretung @kim.wolf:example.org",
            Absence(dt.date(2026, 12, 20), dt.date(2027, 1, 6), "@kim.wolf:example.org"),
        ),
        ("until 2026-12-24 substitute kim", Absence(TODAY, dt.date(2026, 12, 24), "kim")),
        ("heute", Absence(TODAY, TODAY)),
        ("bis morgen", Absence(TODAY, dt.date(2026, 12, 4))),
        ("aus", None),
    ],
)
def test_absences_as_people_type_them(typed: str, expected: Absence | None) -> None:
    assert parse_absence(typed, TODAY) == expected


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("bis 32.12.", "office.bad_date"),
        ("bis 1.12.2026", "office.absence_past"),
        ("6.1.-20.12.", "office.absence_backwards"),
        ("bis 24.12. vertretung", "office.substitute_missing"),
        ("irgendwann mal", "office.absence_unclear"),
        ("", "office.absence_empty"),
    ],
)
def test_unclear_absences_are_refused_with_the_reason(typed: str, key: str) -> None:
    with pytest.raises(AbsenceError) as err:
        parse_absence(typed, TODAY)
    assert err.value.key == key


# --- people by name ---------------------------------------------------------------------------


@dataclass
class Env:
    ctx: BotContext
    matrix: FakeMatrix

    async def command(self, text: str, room: RoomID = TEAM, sender: UserID = WORKER) -> str:
        reply = await handle_message(
            self.ctx, COMMANDS, sender=sender, room_id=room, room_kind="team", body=text
        )
        assert reply is not None
        return reply.text


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    ctx, matrix, db = await make_context(
        tmp_path, workers=[WORKER, COLLEAGUE, OTHER_KIM], rooms={"team": TEAM}
    )
    matrix.room_members[TEAM] = [WORKER, COLLEAGUE, OTHER_KIM]
    matrix.names.update({WORKER: "Maria Berger", COLLEAGUE: "Kim Wolf", OTHER_KIM: "Kim Krause"})
    for user in (WORKER, COLLEAGUE, OTHER_KIM):
        await acknowledge_rules(ctx, user)
    try:
        yield Env(ctx, matrix)
    finally:
        await db.close()


async def test_a_person_by_id_local_name_display_name_or_its_start(env: Env) -> None:
    for typed in ("@kim.wolf:example.org", "kim.wolf", "@kim.wolf", "Kim Wolf", "kim wolf", "kim w", "Wolf"):
        assert find_person(env.ctx, typed, [TEAM]).user == COLLEAGUE, typed
    with pytest.raises(PersonAmbiguous) as err:
        find_person(env.ctx, "kim", [TEAM])
    assert {o.user for o in err.value.options} == {COLLEAGUE, OTHER_KIM}
    for typed in ("@kim.wolf:elsewhere.org", "Petra", "@", ""):
        with pytest.raises(PersonNotFound):
            find_person(env.ctx, typed, [TEAM])


# --- the commands -----------------------------------------------------------------------------


async def test_office_hours_command(env: Env) -> None:
    assert "Öffnungszeiten der Einrichtung: Mo–Fr 8:00–17:00" in await env.command("!sprechzeiten")
    assert "Mo–Fr 9:00–16:00" in await env.command("!sprechzeiten Mo-Fr 9-16")
    assert "Deine Sprechzeiten: Mo–Fr 9:00–16:00" in await env.command("!sprechzeiten")
    assert "„25-26“ ist keine Uhrzeit" in await env.command("!sprechzeiten Mo 25-26")
    assert "Mo–Fr 9:00–16:00" in await env.command("!sprechzeiten")  # a typo changed nothing
    await env.command("!sprechzeiten team Mo-Do 8-18")
    assert "Mo–Fr 9:00–16:00" in await env.command("!sprechzeiten")  # own hours win
    assert "wieder: Mo–Fr 8:00–17:00" in await env.command("!sprechzeiten aus")
    assert "des Teams: Mo–Do 8:00–18:00" in await env.command("!sprechzeiten")
    assert "Mon–Thu" in await env.command("!office-hours", sender=COLLEAGUE)


async def test_away_command_with_a_substitute_by_name(env: Env) -> None:
    env.ctx.clock = lambda: at(3, 12).timestamp()
    assert "mehrere" in await env.command("!abwesend bis 24.12. vertretung Kim")
    reply = await env.command("!abwesend bis 24.12. vertretung Kim Wolf")
    assert "24. Dezember" in reply and "Vertretung: Kim Wolf" in reply
    assert "nicht selbst" in await env.command("!abwesend bis 24.12. vertretung Maria")
    assert "finde ich nicht" in await env.command("!abwesend bis 24.12. vertretung Petra")
    assert "in der Vergangenheit" in await env.command("!abwesend bis 1.12.2026")
    assert "bis 24. Dezember" in await env.command("!abwesend")
    assert "Willkommen zurück" in await env.command("!abwesend aus")
    assert "nicht als abwesend" in await env.command("!abwesend")


# --- the automatic answer ---------------------------------------------------------------------


async def counselling(env: Env) -> Intake:
    await env.ctx.state.set_room_kind(ROOM, "consultation")
    intake = await env.ctx.consent.create_intake(
        RoomID("!aufnahme:example.org"),
        env.ctx.subject(CLIENT),
        worker=env.ctx.subject(WORKER),
        notify_room=TEAM,
        state="active",
    )
    await env.ctx.consent.update_intake(intake.intake_id, consultation_room=ROOM)
    env.matrix.room_members[ROOM] = [CLIENT, WORKER]
    return intake


async def test_one_answer_per_closed_spell(env: Env) -> None:
    intake = await counselling(env)
    await env.command("!sprechzeiten Mo-Fr 9-16")
    env.ctx.clock = lambda: at(4, 18).timestamp()  # Friday evening
    assert await service.answer_if_closed(env.ctx, intake, CLIENT, ROOM)
    [answer] = env.matrix.sent[-1:]
    assert answer.room_id == ROOM
    assert "Gerade ist niemand im Dienst" in answer.body
    assert "am Montag, 7. Dezember ab 9:00 Uhr" in answer.body
    assert "112" in answer.body and "0800 111 0 111" in answer.body
    env.ctx.clock = lambda: at(5, 11).timestamp()  # Saturday: the same closed spell
    assert not await service.answer_if_closed(env.ctx, intake, CLIENT, ROOM)
    env.ctx.clock = lambda: at(7, 10).timestamp()  # Monday, open: no answer
    assert not await service.answer_if_closed(env.ctx, intake, CLIENT, ROOM)
    env.ctx.clock = lambda: at(7, 16, 30).timestamp()  # Monday after hours: a new spell
    assert await service.answer_if_closed(env.ctx, intake, CLIENT, ROOM)
    assert "morgen ab 9:00 Uhr" in env.matrix.sent[-1].body


async def test_the_answer_is_in_the_clients_language_and_skips_holidays(tmp_path: Path) -> None:
    ctx, matrix, db = await make_context(
        tmp_path, workers=[WORKER], rooms={"team": TEAM}, office={"holidays": ["2026-12-07"]}
    )
    env = Env(ctx, matrix)
    try:
        intake = await counselling(env)
        await ctx.state.set_language(ctx.subject(CLIENT), "en")
        ctx.clock = lambda: at(4, 18).timestamp()
        assert await service.answer_if_closed(ctx, intake, CLIENT, ROOM)
        body = matrix.sent[-1].body
        assert "No one is on duty" in body and "on Tuesday, December 8 from 8:00" in body
        assert "Emergency: 112" in body
    finally:
        await db.close()


async def test_while_away_the_substitute_is_brought_in_once(env: Env) -> None:
    intake = await counselling(env)
    env.ctx.clock = lambda: at(3, 12).timestamp()
    await env.command("!abwesend bis 24.12. vertretung Kim Wolf")
    env.ctx.clock = lambda: at(8, 10).timestamp()  # in office hours, but the worker is away
    assert await service.answer_if_closed(env.ctx, intake, CLIENT, ROOM)
    body = env.matrix.sent[-1].body
    assert "bis 24. Dezember nicht da" in body and "Kim Wolf vertritt sie" in body
    assert env.matrix.invites == [(ROOM, COLLEAGUE)]
    env.matrix.room_members[ROOM].append(COLLEAGUE)
    assert not await service.answer_if_closed(env.ctx, intake, CLIENT, ROOM)
    assert env.matrix.invites == [(ROOM, COLLEAGUE)]
    env.ctx.clock = lambda: at(28, 10).timestamp()  # back: the absence is over
    assert not await service.answer_if_closed(env.ctx, intake, CLIENT, ROOM)


# --- quiet outside office hours ---------------------------------------------------------------


async def test_quiet_keeps_notifications_in_the_workers_chat_until_their_hours(env: Env) -> None:
    direct = RoomID("!chat-berger:example.org")
    await env.ctx.state.set_room_kind(direct, "direct")
    await env.command("!sprechzeiten Mo-Fr 9-16")
    assert "Ruhe ist an" in await env.command("!ruhe an")
    worker = env.ctx.subject(WORKER)
    env.ctx.clock = lambda: at(4, 20).timestamp()  # Friday evening
    assert await service.hold_if_quiet(env.ctx, worker, TEAM, direct, "notify.room_ready", 3, "c1")
    assert await service.hold_if_quiet(env.ctx, worker, TEAM, direct, "notify.declined", 4, "c2")
    # The team room is shared: colleagues on duty see it at once.
    assert not await service.hold_if_quiet(env.ctx, worker, TEAM, TEAM, "notify.declined", 4, "c3")
    await service.deliver_held(env.ctx)
    assert not [s for s in env.matrix.sent if s.room_id == direct]  # still off duty
    env.ctx.clock = lambda: at(7, 9, 1).timestamp()  # Monday morning
    await service.deliver_held(env.ctx)
    [bundle] = [s for s in env.matrix.sent if s.room_id == direct]
    assert "Während deiner Ruhezeit" in bundle.body and "#3" in bundle.body and "#4" in bundle.body
    await service.deliver_held(env.ctx)
    assert len([s for s in env.matrix.sent if s.room_id == direct]) == 1  # once
    # In office hours, or with quiet off, nothing is held.
    assert not await service.hold_if_quiet(env.ctx, worker, TEAM, direct, "notify.declined", 5, "c4")
    assert "Ruhe ist aus" in await env.command("!ruhe aus")
    env.ctx.clock = lambda: at(4, 20).timestamp()
    assert not await service.hold_if_quiet(env.ctx, worker, TEAM, direct, "notify.declined", 5, "c5")
    assert "Beispiel" in await env.command("!ruhe vielleicht")
