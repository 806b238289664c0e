"""bot/stats/periods.py: ISO weeks and calendar months in the organisation's time zone."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.stats.periods import Period, parse_period, period_containing

BERLIN = ZoneInfo("Europe/Berlin")
HOUR_MS = 3_600_000

days = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31))


# --- parse_period ---------------------------------------------------------------------------


def test_parse_week() -> None:
    p = parse_period("2026-W47")
    assert p == Period(dt.date(2026, 11, 16), dt.date(2026, 11, 23), "week")
    assert p.start.weekday() == 0
    assert p.label == "2026-W47"


def test_parse_week_strips_whitespace() -> None:
    assert parse_period("  2026-W01\n") == Period(dt.date(2025, 12, 29), dt.date(2026, 1, 5), "week")


def test_parse_week_53_where_it_exists() -> None:
    # 2026 begins on a Thursday, so it has 53 ISO weeks.
    assert dt.date.fromisocalendar(2026, 53, 1) == dt.date(2026, 12, 28)
    p = parse_period("2026-W53")
    assert p == Period(dt.date(2026, 12, 28), dt.date(2027, 1, 4), "week")
    assert p.label == "2026-W53"
    assert parse_period("2020-W53").start == dt.date(2020, 12, 28)


@pytest.mark.parametrize("label", ["2025-W53", "2027-W53", "2026-W54", "2026-W00", "2026-W99"])
def test_parse_week_that_does_not_exist(label: str) -> None:
    with pytest.raises(ValueError, match="no such ISO week"):
        parse_period(label)


def test_parse_month() -> None:
    # Reporting months are whole ISO weeks: those whose Thursday is in the month.
    nov = parse_period("2026-11")
    assert nov == Period(dt.date(2026, 11, 2), dt.date(2026, 11, 30), "month")
    assert [w.label for w in nov.weeks] == ["2026-W45", "2026-W46", "2026-W47", "2026-W48"]
    # 1 December 2026 is a Tuesday: Monday 30 November belongs to December.
    dec = parse_period("2026-12")
    assert dec == Period(dt.date(2026, 11, 30), dt.date(2027, 1, 4), "month")
    assert [w.label for w in dec.weeks][-1] == "2026-W53"
    feb = parse_period("2028-02")
    assert feb.label == "2028-02" and feb.start == dt.date(2028, 1, 31)


@pytest.mark.parametrize("label", ["2026-13", "2026-00"])
def test_parse_month_that_does_not_exist(label: str) -> None:
    with pytest.raises(ValueError, match="no such month"):
        parse_period(label)


@pytest.mark.parametrize(
    "label",
    [
        "",
        "W47",
        "2026W47",
        "2026-W7",
        "2026-W470",
        "26-W47",
        "2026-1",
        "2026-011",
        "2026/11",
        "last week",
        "2026-W47 x",
        "2026-11-01",
    ],
)
def test_parse_rejects_bad_labels(label: str) -> None:
    with pytest.raises(ValueError):
        parse_period(label)


@settings(max_examples=60, deadline=None)
@given(days, st.sampled_from(["week", "month"]))
def test_label_round_trip(day: dt.date, kind: str) -> None:
    p = period_containing(day, kind)
    assert parse_period(p.label) == p


# --- period_containing ----------------------------------------------------------------------


def test_period_containing_week() -> None:
    for day in (dt.date(2026, 11, 16), dt.date(2026, 11, 19), dt.date(2026, 11, 22)):
        assert period_containing(day, "week").label == "2026-W47"
    assert period_containing(dt.date(2026, 11, 23), "week").label == "2026-W48"
    # Around New Year the ISO year differs from the calendar year.
    assert period_containing(dt.date(2027, 1, 3), "week").label == "2026-W53"
    assert period_containing(dt.date(2025, 12, 31), "week").label == "2026-W01"


def test_period_containing_month() -> None:
    assert period_containing(dt.date(2026, 1, 31), "month").label == "2026-01"
    assert period_containing(dt.date(2026, 11, 30), "month").label == "2026-12"
    assert period_containing(dt.date(2027, 1, 3), "month").label == "2026-12"
    assert period_containing(dt.date(2026, 12, 31), "month").end == dt.date(2027, 1, 4)


@settings(max_examples=80, deadline=None)
@given(days, st.sampled_from(["week", "month"]))
def test_period_containing_contains(day: dt.date, kind: str) -> None:
    p = period_containing(day, kind)
    assert p.start <= day < p.end
    assert p.kind == kind
    if kind == "week":
        assert p.start.weekday() == 0 and (p.end - p.start).days == 7
    else:
        # Whole weeks, four or five of them, each in the month by its Thursday.
        assert p.start.weekday() == 0 and (p.end - p.start).days in (28, 35)
        assert all((w.start + dt.timedelta(days=3)).month == int(p.label[5:]) for w in p.weeks)
        assert sum(len(w.weeks) for w in [p]) == len(p.weeks)


# --- previous / trend -----------------------------------------------------------------------


def test_trend_twelve_weeks_oldest_first() -> None:
    p = parse_period("2026-W02")
    trend = p.trend(12)
    assert len(trend) == 12
    assert trend[-1] == p
    assert trend[0].label == "2025-W43"
    assert [t.label for t in trend[-3:]] == ["2025-W52", "2026-W01", "2026-W02"]
    for older, newer in itertools.pairwise(trend):
        assert older.end == newer.start  # consecutive, no gaps or overlaps
        assert older < newer


def test_trend_twelve_months_across_year() -> None:
    trend = parse_period("2026-03").trend(12)
    assert [t.label for t in trend] == [f"2025-{m:02d}" for m in range(4, 13)] + [
        "2026-01",
        "2026-02",
        "2026-03",
    ]
    for older, newer in itertools.pairwise(trend):
        assert older.end == newer.start


@settings(max_examples=40, deadline=None)
@given(days, st.sampled_from(["week", "month"]), st.integers(min_value=1, max_value=30))
def test_trend_property(day: dt.date, kind: str, n: int) -> None:
    p = period_containing(day, kind)
    trend = p.trend(n)
    assert len(trend) == n
    assert trend[-1] == p
    assert all(t.kind == kind for t in trend)
    assert all(a.end == b.start for a, b in itertools.pairwise(trend))
    assert len({t.label for t in trend}) == n


@settings(max_examples=60, deadline=None)
@given(days)
def test_months_are_made_of_their_weeks(day: dt.date) -> None:
    month = period_containing(day, "month")
    week = period_containing(day, "week")
    assert week in month.weeks
    assert month.weeks[0].start == month.start and month.weeks[-1].end == month.end
    assert period_containing(week.start, "month") == period_containing(week.last_day, "month") == month
    assert month.next().start == month.end


def test_previous_crosses_iso_year() -> None:
    assert parse_period("2027-W01").previous().label == "2026-W53"
    assert parse_period("2026-W01").previous().label == "2025-W52"
    assert parse_period("2026-01").previous().label == "2025-12"


# --- bounds_ms ------------------------------------------------------------------------------


def test_bounds_ms_normal_week_is_168_hours_from_local_midnight() -> None:
    lo, hi = parse_period("2026-W47").bounds_ms(BERLIN)
    assert hi - lo == 168 * HOUR_MS
    # Monday 2026-11-16 00:00 CET is Sunday 23:00 UTC.
    assert lo == int(dt.datetime(2026, 11, 15, 23, 0, tzinfo=dt.UTC).timestamp() * 1000)


def test_bounds_ms_spring_forward_week_is_167_hours() -> None:
    p = period_containing(dt.date(2026, 3, 29), "week")
    assert p.start == dt.date(2026, 3, 23)
    lo, hi = p.bounds_ms(BERLIN)
    assert hi - lo == 167 * HOUR_MS
    assert lo == int(dt.datetime(2026, 3, 22, 23, 0, tzinfo=dt.UTC).timestamp() * 1000)  # CET
    assert hi == int(dt.datetime(2026, 3, 29, 22, 0, tzinfo=dt.UTC).timestamp() * 1000)  # CEST


def test_bounds_ms_fall_back_week_is_169_hours() -> None:
    p = period_containing(dt.date(2026, 10, 25), "week")
    assert p.start == dt.date(2026, 10, 19)
    lo, hi = p.bounds_ms(BERLIN)
    assert hi - lo == 169 * HOUR_MS
    assert lo == int(dt.datetime(2026, 10, 18, 22, 0, tzinfo=dt.UTC).timestamp() * 1000)  # CEST
    assert hi == int(dt.datetime(2026, 10, 25, 23, 0, tzinfo=dt.UTC).timestamp() * 1000)  # CET


def test_bounds_ms_months_with_dst_change() -> None:
    lo, hi = parse_period("2026-03").bounds_ms(BERLIN)  # 2 to 29 March, spring forward on the 29th
    assert hi - lo == (28 * 24 - 1) * HOUR_MS
    lo, hi = parse_period("2026-10").bounds_ms(BERLIN)  # 28 September to 1 November
    assert hi - lo == (35 * 24 + 1) * HOUR_MS


def test_bounds_ms_depends_on_time_zone() -> None:
    p = parse_period("2026-W47")
    utc_lo, _ = p.bounds_ms(ZoneInfo("UTC"))
    berlin_lo, _ = p.bounds_ms(BERLIN)
    tokyo_lo, _ = p.bounds_ms(ZoneInfo("Asia/Tokyo"))
    assert utc_lo - berlin_lo == HOUR_MS
    assert utc_lo - tokyo_lo == 9 * HOUR_MS


@settings(max_examples=60, deadline=None)
@given(days)
def test_consecutive_weeks_tile_time(day: dt.date) -> None:
    p = period_containing(day, "week")
    _, hi = p.previous().bounds_ms(BERLIN)
    lo, _ = p.bounds_ms(BERLIN)
    assert hi == lo
    lo, hi = p.bounds_ms(BERLIN)
    assert hi - lo in (167 * HOUR_MS, 168 * HOUR_MS, 169 * HOUR_MS)
