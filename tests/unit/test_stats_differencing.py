"""Attacks on the leadership report by arithmetic (security issue #10.3, report issue #12.4).

Each test plays the attacker: it takes reports anyone in the leadership room could ask for
(weeks, the month they make up, team rows, the same period again, before and after an erasure)
and subtracts. What it may learn is a sum over at least ``k`` people; a figure hidden because
fewer than ``k`` people stand behind it must stay unknown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.context import BotContext
from bot.ids import EventID, RoomID, UserID
from bot.stats import report as stats_report
from bot.stats import rollup
from bot.stats.aggregate import Figure
from bot.stats.anonymize import Cell, below_threshold
from bot.stats.hierarchy import protect_parts, protect_total
from bot.stats.periods import Period, parse_period
from bot.store.consent import EventMeta
from bot.store.db import Database
from tests.support import make_context
from tests.unit.stats_fixture import BERLIN, ms

K = 3
MONTH = parse_period("2026-11")  # weeks 45 to 48
W45, W46, W47, W48 = MONTH.weeks
TEAM_A = RoomID("!team-a:example.org")


@dataclass
class World:
    """Who wrote when, as the store knows it, so the test knows the truth behind each figure."""

    ctx: BotContext
    db: Database
    team_of: dict[UserID, RoomID] = field(default_factory=dict)
    room_of: dict[UserID, RoomID] = field(default_factory=dict)
    role_of: dict[UserID, str] = field(default_factory=dict)
    written: list[tuple[UserID, Period]] = field(default_factory=list)
    seq: int = 0

    async def client(self, name: str, worker: UserID, team: RoomID = TEAM_A) -> UserID:
        user, room = UserID(f"@{name}:example.org"), RoomID(f"!room-{name}:example.org")
        await self.ctx.state.set_room_kind(room, "consultation")
        await self.ctx.state.set_room_kind(team, "team")
        intake = await self.ctx.consent.create_intake(
            RoomID(f"!intake-{name}:example.org"),
            self.ctx.subject(user),
            worker=self.ctx.subject(worker),
            notify_room=team,
            state="active",
        )
        await self.ctx.consent.update_intake(intake.intake_id, consultation_room=room)
        self.room_of[user], self.team_of[user], self.role_of[user] = room, team, "client"
        self.role_of[worker] = "worker"
        return user

    async def say(self, who: UserID, room_owner: UserID, week: Period, day: int, times: int = 1) -> None:
        metas = []
        for i in range(times):
            self.seq += 1
            ts = ms(week, day, 10, i, self.seq)
            metas.append(
                EventMeta(
                    EventID(f"$e{self.seq}:example.org"),
                    self.room_of[room_owner],
                    self.ctx.subject(who),
                    ts,
                    "m.room.message",
                    (),
                )
            )
            self.written.append((who, week))
        await self.ctx.consent.record_events(metas)

    def people(self, weeks: Iterable[Period], role: str) -> set[UserID]:
        chosen = set(weeks)
        return {who for who, week in self.written if week in chosen and self.role_of[who] == role}


@pytest.fixture
async def world(tmp_path: Path) -> World:
    ctx, _, db = await make_context(tmp_path, stats={"k": K})
    w = World(ctx, db)
    yield w  # type: ignore[misc]
    await db.close()


def revealed(total: dict[str, Cell], parts: Sequence[dict[str, Cell]], key: str) -> float | None:
    """What "total minus the shown parts" tells about the hidden parts, if anything."""
    if total[key].suppressed or total[key].value is None:
        return None
    if not any(p[key].suppressed for p in parts):
        return None
    return total[key].value - sum(p[key].value or 0 for p in parts if not p[key].suppressed)


async def cells(ctx: BotContext, period: Period) -> dict[str, Cell]:
    return (await stats_report.build(ctx, period)).cells


# --- months against their weeks ---------------------------------------------------------------


async def test_month_minus_its_shown_weeks_does_not_reveal_a_hidden_week(world: World) -> None:
    """The case found in review: 19 − 5 − 6 − 7 = 1, one client's week laid bare."""
    workers = [UserID(f"@w{i}:example.org") for i in range(3)]
    c = [await world.client(f"c{i}", workers[i % 3]) for i in range(6)]
    for who, n in zip(c[:3], (2, 2, 1), strict=True):
        await world.say(who, who, W45, 1, n)
    for who in c[:3]:
        await world.say(who, who, W46, 2, 2)
    for who, n in zip(c[3:], (3, 2, 2), strict=True):
        await world.say(who, who, W47, 3, n)
    await world.say(c[0], c[0], W48, 1)  # one client, one message

    weeks = [await cells(world.ctx, w) for w in MONTH.weeks]
    assert [w["messages_clients"].value for w in weeks[:3]] == [5, 6, 7]
    assert weeks[3]["messages_clients"].suppressed  # one person: hidden
    month = await cells(world.ctx, MONTH)
    # Without the hierarchy rule the month showed 19 (3 persons ≥ k) and 19 − 5 − 6 − 7 = 1.
    assert revealed(month, weeks, "messages_clients") is None
    assert month["messages_clients"].suppressed
    # Figures of the month that the hidden week does not touch stay visible.
    assert not month["active_rooms"].suppressed


async def test_hidden_weeks_that_together_cover_k_people_leave_the_month_shown(world: World) -> None:
    """Not hiding more than needed: two hidden weeks of 1 and 2 different clients add up to 3."""
    workers = [UserID(f"@w{i}:example.org") for i in range(3)]
    c = [await world.client(f"c{i}", workers[i % 3]) for i in range(6)]
    for week in (W45, W46):
        for who in c[:3]:
            await world.say(who, who, week, 1)
    await world.say(c[3], c[3], W47, 2)
    await world.say(c[4], c[4], W48, 2)
    await world.say(c[5], c[5], W48, 3)
    weeks = [await cells(world.ctx, w) for w in MONTH.weeks]
    assert [w["messages_clients"].suppressed for w in weeks] == [False, False, True, True]
    month = await cells(world.ctx, MONTH)
    assert not month["messages_clients"].suppressed
    assert revealed(month, weeks, "messages_clients") == 3
    assert len(world.people([W47, W48], "client")) >= K  # what it reveals is about ≥ k people


async def test_an_erasure_after_the_weeks_were_frozen_reveals_nothing_through_the_month(world: World) -> None:
    """The lone client of week 48 is erased before anyone asks for the month: the store no
    longer knows them, but the frozen weeks still count their message."""
    workers = [UserID(f"@w{i}:example.org") for i in range(3)]
    c = [await world.client(f"c{i}", workers[i % 3]) for i in range(4)]
    for week in (W45, W46, W47):
        for who in c[:3]:
            await world.say(who, who, week, 1)
    await world.say(c[3], c[3], W48, 2, 4)
    weeks = [await cells(world.ctx, w) for w in MONTH.weeks]  # the weekly reports went out
    assert weeks[3]["messages_clients"].suppressed
    await world.ctx.consent.erase_subject(world.ctx.subject(c[3]), keep_rooms=[])
    month = await cells(world.ctx, MONTH)
    assert revealed(month, weeks, "messages_clients") is None
    assert month["messages_clients"].suppressed


# --- teams against the organisation ---------------------------------------------------------


async def test_organisation_minus_shown_teams_reveals_no_small_team(world: World) -> None:
    teams = [RoomID(f"!team-{t}:example.org") for t in "abc"]
    rows: dict[RoomID, list[UserID]] = {}
    for t, team in enumerate(teams[:2]):
        workers = [UserID(f"@w{t}{i}:example.org") for i in range(3)]
        rows[team] = [await world.client(f"c{t}{i}", workers[i], team) for i in range(3)]
        for who, worker in zip(rows[team], workers, strict=True):
            await world.say(who, who, W47, 1, 2)
            await world.say(worker, who, W47, 1)
    lone_worker = UserID("@w-c:example.org")
    lone = await world.client("lonely", lone_worker, teams[2])
    await world.say(lone, lone, W47, 2)
    await world.say(lone_worker, lone, W47, 2)

    report = await stats_report.build(world.ctx, W47)
    assert len(report.teams) == 3  # team a, team b, "other teams" (team c alone)
    parts = [row for _, row in report.teams]
    for key in ("active_rooms", "messages_clients", "messages_workers", "client_contacts"):
        hidden_rows = [i for i, row in enumerate(parts) if row[key].suppressed]
        assert len(hidden_rows) != 1, key
        if revealed(report.cells, parts, key) is None:
            continue
        # The hidden rows together: team c's one client plus a whole team of three.
        behind = set()
        for i in hidden_rows:
            team = [teams[0], teams[1], teams[2]][i]
            behind |= {who for who in world.team_of if world.team_of[who] == team}
        assert len(behind) >= K, key


# --- asking again, and after an erasure ------------------------------------------------------


async def test_a_report_asked_for_again_after_an_erasure_is_identical(world: World) -> None:
    workers = [UserID(f"@w{i}:example.org") for i in range(3)]
    c = [await world.client(f"c{i}", workers[i % 3]) for i in range(5)]
    for who in c:
        await world.say(who, who, W47, 1, 2)
        await world.say(workers[0], who, W47, 1)
    ctx = world.ctx
    before = await stats_report.build(ctx, W47)
    outputs = [stats_report.render_text(ctx, before, "de"), stats_report.render_csv(ctx, before, "de")]
    assert before.cells["messages_clients"].value == 10
    await ctx.consent.erase_subject(ctx.subject(c[0]), keep_rooms=[])
    after = await stats_report.build(ctx, W47)
    assert [stats_report.render_text(ctx, after, "de"), stats_report.render_csv(ctx, after, "de")] == outputs
    assert stats_report.render_json(after) == stats_report.render_json(before)


async def test_noise_is_drawn_once_asking_again_cannot_average_it_away(tmp_path: Path) -> None:
    ctx, _, db = await make_context(tmp_path, stats={"k": K, "epsilon": 0.5})
    world = World(ctx, db)
    try:
        workers = [UserID(f"@w{i}:example.org") for i in range(3)]
        c = [await world.client(f"c{i}", workers[i % 3]) for i in range(6)]
        for week in MONTH.weeks:
            for who in c:
                await world.say(who, who, week, 1, 3)
        first = [await stats_report.build(ctx, p) for p in (*MONTH.weeks, MONTH)]
        again = [await stats_report.build(ctx, p) for p in (*MONTH.weeks, MONTH)]
        assert [stats_report.render_json(r) for r in again] == [stats_report.render_json(r) for r in first]
    finally:
        await db.close()
    # A restart (a new context on the same database) serves the same numbers.
    ctx2, _, db2 = await make_context(tmp_path, stats={"k": K, "epsilon": 0.5})
    try:
        later = [await stats_report.build(ctx2, p) for p in (*MONTH.weeks, MONTH)]
        assert [stats_report.render_json(r) for r in later] == [stats_report.render_json(r) for r in first]
    finally:
        await db2.close()


async def test_a_running_period_has_no_report(world: World) -> None:
    world.ctx.clock = lambda: dt.datetime(2026, 11, 19, 12, tzinfo=BERLIN).timestamp()
    with pytest.raises(rollup.PeriodRunning):
        await stats_report.build(world.ctx, W47)
    with pytest.raises(rollup.PeriodRunning):
        await stats_report.build(world.ctx, MONTH)
    world.ctx.clock = lambda: dt.datetime(2026, 11, 23, 0, 30, tzinfo=BERLIN).timestamp()
    await stats_report.build(world.ctx, W47)  # Monday: last week is over


# --- the rules themselves, for any people -----------------------------------------------------

people = st.frozensets(st.integers(0, 12).map(str), max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(people, min_size=2, max_size=6), st.integers(min_value=3, max_value=5))
def test_parts_beside_their_total_reveal_only_groups_of_k(parts: list[frozenset[str]], k: int) -> None:
    figs = [{"n": Figure("n", float(len(p) * 2), p)} for p in parts]
    hidden = [below_threshold(f, k) for f in figs]
    protect_parts(figs, hidden, ["n"], k)
    behind = set().union(*(p for p, h in zip(parts, hidden, strict=True) if "n" in h))
    total_persons = set().union(*parts)
    total_shown = len(total_persons) >= k or not total_persons
    if total_shown:
        assert not behind or len(behind) >= k
    for p, h in zip(parts, hidden, strict=True):
        if 0 < len(p) < k:
            assert "n" in h


@settings(max_examples=300, deadline=None)
@given(st.lists(people, min_size=4, max_size=5), st.integers(min_value=3, max_value=5))
def test_a_total_after_its_parts_reveals_only_groups_of_k(weeks: list[frozenset[str]], k: int) -> None:
    figs = [{"n": Figure("n", float(len(p)), p)} for p in weeks]
    week_hidden = [below_threshold(f, k) for f in figs]
    month = {"n": Figure("n", float(sum(len(p) for p in weeks)), frozenset().union(*weeks))}
    hidden = below_threshold(month, k)
    hidden_weeks = [p for p, h in zip(weeks, week_hidden, strict=True) if "n" in h]
    protect_total(hidden, {"n": hidden_weeks}, {"n": [float(len(p)) for p in hidden_weeks]}, ["n"], k)
    if "n" not in hidden and hidden_weeks:
        assert len(frozenset().union(*hidden_weeks)) >= k
