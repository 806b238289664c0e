"""What a first report costs (issue #15.5): the same figures as before, with less work.

Over a million metadata rows the first report of a month (which freezes its weeks and the
month) took minutes and blocked the bot: every row was read three times (each week reads a week
further for late answers, then the month again), got three HMACs, and was counted on the event
loop. These tests pin the cheaper way down without a timing threshold: each row is read once,
each distinct person gets one HMAC per period, the counting runs off the event loop, and the
shortcuts give exactly the figures the plain way gives.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.context import BotContext
from bot.pseudonym import Pseudonymizer
from bot.stats import freezing, rollup
from bot.stats import teams as stats_teams
from bot.stats.aggregate import Activity, Message, contacts, figures, until_answered
from bot.stats.officehours import OfficeHours
from bot.stats.periods import parse_period
from bot.store.db import Database
from bot.store.stats import DAY_MS
from tests.support import make_context
from tests.unit.stats_fixture import BERLIN, fill
from tests.unit.test_stats_anonymity import HOURS, TARGET, WEEK, messages
from tests.unit.test_stats_officehours import any_instant, office

MONTH = parse_period("2026-11")  # weeks 45 to 48, W45-W47 filled by the fixture


@pytest.fixture
async def filled(tmp_path: Path) -> AsyncIterator[tuple[BotContext, Database]]:
    ctx, _, db = await make_context(tmp_path, stats={"k": 3})
    await fill(ctx)
    try:
        yield ctx, db
    finally:
        await db.close()


class Counting(Pseudonymizer):
    """A pseudonymizer that counts the HMACs it computes (in every context derived from it)."""

    def __init__(self, key: bytes, context: str = "subject", calls: list[str] | None = None) -> None:
        super().__init__(key, context=context)
        self.calls: list[str] = [] if calls is None else calls

    def __call__(self, identifier: str) -> str:
        self.calls.append(identifier)
        return super().__call__(identifier)

    def derive(self, context: str) -> Pseudonymizer:
        return Counting(self._key, context, self.calls)


def test_rotation_computes_one_hmac_per_distinct_value(tmp_path: Path) -> None:
    key = b"k" * 32
    counting = Counting(key)

    class Ctx:
        pseudonyms = counting

    rows = [Message(f"!r{i % 3}", f"s{i % 4}", "client", i, "!team") for i in range(1000)]
    rotated = freezing.rotate(Activity(rows), Ctx(), "2026-W47")  # type: ignore[arg-type]
    assert len(counting.calls) == 3 + 4 + 1  # rooms, senders, the team: not three per row
    plain = Pseudonymizer(key).derive("stats:2026-W47")
    assert rotated.messages[5] == Message(plain("!r2"), plain("s1"), "client", 5, plain("!team"))


async def test_a_month_reads_each_day_of_messages_once(
    filled: tuple[BotContext, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, _ = filled
    spans: list[tuple[int, int]] = []
    real = ctx.stats.messages

    async def counted(lo: int, hi: int, bot: str) -> list[Message]:
        spans.append((lo, hi))
        return await real(lo, hi, bot)

    monkeypatch.setattr(ctx.stats, "messages", counted)
    await rollup.frozen(ctx, MONTH)
    for week in MONTH.weeks:
        assert await ctx.stats.frozen(week.label) is not None
    # One read for the month and its four weeks (before: five overlapping ones, each day up to
    # three times).
    lo, hi = MONTH.bounds_ms(BERLIN)
    assert spans == [(lo, hi + freezing.ANSWER_WINDOW_MS)]


async def test_the_store_reads_messages_a_day_at_a_time(
    filled: tuple[BotContext, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """So that no single query holds the store's one connection for long."""
    ctx, db = filled
    queries: list[tuple[object, ...]] = []
    real = db.fetchall

    async def fetchall(sql: str, params: tuple[object, ...] = ()) -> list[object]:
        if "FROM event_meta e JOIN room r" in sql:
            queries.append(params)
        return await real(sql, params)  # type: ignore[return-value]

    monkeypatch.setattr(db, "fetchall", fetchall)
    lo, hi = WEEK.bounds_ms(BERLIN)
    got = await ctx.stats.messages(lo, hi, "nobody")
    assert len(queries) == 7 and all(int(q[1]) - int(q[0]) <= DAY_MS for q in queries)  # type: ignore[call-overload]
    assert got == sorted(got, key=lambda m: m.ts_ms) and len(got) > 20


async def test_counting_runs_off_the_event_loop(
    filled: tuple[BotContext, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot answers everyone on the event loop: a week's counting must not hold it."""
    ctx, _ = filled
    loop_thread = threading.get_ident()
    threads: set[int] = set()
    real_figures, real_teams = freezing.figures, stats_teams.team_rows

    def figures_spy(*args: object) -> object:
        threads.add(threading.get_ident())
        return real_figures(*args)  # type: ignore[arg-type]

    def teams_spy(*args: object, **kw: object) -> object:
        threads.add(threading.get_ident())
        return real_teams(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(freezing, "figures", figures_spy)
    monkeypatch.setattr(freezing, "team_rows", teams_spy)
    await rollup.frozen(ctx, MONTH)
    assert threads and loop_thread not in threads


# --- the shortcuts give the same figures -------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(office, any_instant, any_instant)
def test_between_ms_is_between(hours: OfficeHours, x: dt.datetime, y: dt.datetime) -> None:
    def ms(at: dt.datetime) -> int:
        return int(at.timestamp() * 1000)

    assert hours.between_ms(ms(x), ms(y)) == hours.between(x, y)
    assert hours.is_open_ms(ms(x)) == hours.is_open(x)


@settings(max_examples=150, deadline=None)
@given(st.lists(messages(), max_size=60), st.integers(min_value=0, max_value=7))
def test_until_answered_keeps_every_contact_and_its_answer(msgs: list[Message], day: int) -> None:
    hi = WEEK.bounds_ms(BERLIN)[0] + day * DAY_MS
    kept = until_answered(msgs, hi)

    def before(pairs: list[tuple[Message, Message | None]]) -> list[tuple[Message, Message | None]]:
        return sorted((p for p in pairs if p[0].ts_ms < hi), key=repr)

    assert before(contacts(kept)) == before(contacts(msgs))
    assert [m for m in msgs if m.ts_ms < hi] == [m for m in kept if m.ts_ms < hi]


@settings(max_examples=60, deadline=None)
@given(st.lists(messages(), max_size=60))
def test_figures_are_those_of_all_messages(msgs: list[Message]) -> None:
    lo, hi = WEEK.bounds_ms(BERLIN)
    cut = Activity(until_answered(msgs, hi))
    assert figures(cut, lo, hi, HOURS, TARGET) == figures(Activity(msgs), lo, hi, HOURS, TARGET)


def test_office_hours_are_the_same_on_a_dst_day() -> None:
    """Opening hours around the clock change (instants as the figures pass them: in UTC)."""
    hours = OfficeHours(BERLIN, dt.time(1, 30), dt.time(3, 30), frozenset(range(7)))
    for day in (29, 30):
        a = dt.datetime(2026, 3, day - 1, 23, 0, tzinfo=dt.UTC)
        for minutes in range(0, 6 * 60, 7):
            b = a + dt.timedelta(minutes=minutes)
            got = hours.between_ms(int(a.timestamp() * 1000), int(b.timestamp() * 1000))
            assert got == hours.between(a, b)
            assert hours.is_open_ms(int(b.timestamp() * 1000)) == hours.is_open(b)


def test_rotation_in_place_is_the_same_rotation() -> None:
    """A month is rotated where it lies (not held twice in memory), with the same tags."""

    class Ctx:
        pseudonyms = Pseudonymizer(b"k" * 32)

    rows = [Message(f"!r{i % 3}", f"s{i % 4}", "worker", i, None if i % 2 else "!t") for i in range(50)]
    copy = list(rows)
    fresh = freezing.rotate(Activity(copy), Ctx(), "2026-11")  # type: ignore[arg-type]
    same = freezing.rotate(Activity(rows), Ctx(), "2026-11", in_place=True)  # type: ignore[arg-type]
    assert same.messages is rows and list(same.messages) == list(fresh.messages)
    assert copy[0] == Message("!r0", "s0", "worker", 0, "!t")  # the other way leaves its input alone


@settings(max_examples=60, deadline=None)
@given(st.lists(messages(), max_size=80))
def test_team_rows_from_the_organisations_contacts_are_those_of_each_team(msgs: list[Message]) -> None:
    """A team row picks its contacts from the organisation's (a room belongs to one team):
    the same figures as pairing and timing the team's messages on their own."""
    team_of = {
        room: f"!team{i % 3}" if i % 4 else None for i, room in enumerate(sorted({m.room for m in msgs}))
    }
    activity = Activity([m._replace(team=team_of[m.room]) for m in msgs])
    lo, hi = WEEK.bounds_ms(BERLIN)
    labels = {f"!team{i}": f"Team {i}" for i in range(3)}
    rows = stats_teams.team_rows(activity, lo, hi, HOURS, TARGET, 3, labels)
    for row in rows:
        members: set[str | None]
        if row.label != stats_teams.OTHER:
            members = {t for t in labels if labels[t] == row.label}
        else:
            shown = {t for t in labels if labels[t] in {r.label for r in rows}}
            members = {t for t in labels if t not in shown} | {None}
        alone = figures(stats_teams._subset(activity, members), lo, hi, HOURS, TARGET)
        assert row.figures == {key: alone[key] for key in stats_teams.TEAM_FIGURES}
