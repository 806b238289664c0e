"""bot/stats/officehours.py: working time between two instants, in the organisation's zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.stats.officehours import OfficeHours

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = OfficeHours(BERLIN)  # Monday to Friday, 08:00 to 17:00
H = dt.timedelta(hours=1)


def berlin(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=BERLIN)


def utc(x: dt.datetime) -> dt.datetime:
    return x.astimezone(dt.UTC)


# --- between: plain days --------------------------------------------------------------------


def test_within_one_day() -> None:
    # Tuesday 2026-11-17
    assert HOURS.between(berlin(2026, 11, 17, 10), berlin(2026, 11, 17, 12, 30)) == 2.5 * H
    assert HOURS.between(berlin(2026, 11, 17, 7), berlin(2026, 11, 17, 18)) == 9 * H
    assert HOURS.between(berlin(2026, 11, 17, 6), berlin(2026, 11, 17, 7, 59)) == dt.timedelta(0)
    assert HOURS.between(berlin(2026, 11, 17, 17), berlin(2026, 11, 17, 23)) == dt.timedelta(0)


def test_overnight() -> None:
    # Monday 16:00 → Tuesday 09:00: one hour each side of the night.
    assert HOURS.between(berlin(2026, 11, 16, 16), berlin(2026, 11, 17, 9)) == 2 * H


def test_full_week() -> None:
    assert HOURS.between(berlin(2026, 11, 16), berlin(2026, 11, 23)) == 45 * H


def test_utc_and_local_inputs_agree() -> None:
    a, b = berlin(2026, 11, 16, 16), berlin(2026, 11, 17, 9)
    assert HOURS.between(utc(a), utc(b)) == HOURS.between(a, b) == 2 * H
    assert HOURS.between(a, utc(b)) == HOURS.between(utc(a), b) == 2 * H


# --- between: weekends and daylight-saving changes ------------------------------------------


def test_friday_evening_to_monday_morning_is_one_hour() -> None:
    a, b = berlin(2026, 11, 20, 18), berlin(2026, 11, 23, 9)
    assert HOURS.between(a, b) == H
    assert HOURS.between(utc(a), utc(b)) == H


def test_weekend_alone_is_zero() -> None:
    assert HOURS.between(berlin(2026, 11, 21, 0), berlin(2026, 11, 22, 23, 59)) == dt.timedelta(0)


@pytest.mark.parametrize(
    ("friday", "monday"),
    [((2026, 3, 27), (2026, 3, 30)), ((2026, 10, 23), (2026, 10, 26))],
    ids=["spring-forward", "fall-back"],
)
def test_weekend_across_dst_change(friday: tuple[int, int, int], monday: tuple[int, int, int]) -> None:
    a, b = berlin(*friday, 16), berlin(*monday, 9)
    assert HOURS.between(a, b) == 2 * H
    assert HOURS.between(utc(a), utc(b)) == 2 * H
    # The wall clock differs from elapsed time over that weekend, office time does not.
    assert utc(b) - utc(a) != dt.timedelta(days=2, hours=17)


@pytest.mark.parametrize("monday", [(2026, 3, 23), (2026, 10, 19)], ids=["spring-forward", "fall-back"])
def test_dst_week_still_has_45_office_hours(monday: tuple[int, int, int]) -> None:
    start = berlin(*monday)
    end = berlin(*(dt.date(*monday) + dt.timedelta(days=7)).timetuple()[:3])
    assert HOURS.between(utc(start), utc(end)) == 45 * H


def test_not_after_is_zero() -> None:
    a = berlin(2026, 11, 17, 10)
    assert HOURS.between(a, a) == dt.timedelta(0)
    assert HOURS.between(a, a - H) == dt.timedelta(0)
    assert HOURS.between(berlin(2026, 11, 18, 12), berlin(2026, 11, 16, 12)) == dt.timedelta(0)


# --- is_open --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (berlin(2026, 11, 17, 7, 59), False),
        (berlin(2026, 11, 17, 8, 0), True),
        (berlin(2026, 11, 17, 16, 59), True),
        (berlin(2026, 11, 17, 17, 0), False),
        (berlin(2026, 11, 20, 16, 59), True),  # Friday
        (berlin(2026, 11, 21, 10, 0), False),  # Saturday
        (berlin(2026, 11, 22, 10, 0), False),  # Sunday
        (berlin(2026, 3, 30, 8, 0), True),  # Monday after spring-forward
        (berlin(2026, 10, 26, 7, 59), False),  # Monday after fall-back
    ],
)
def test_is_open_edges(at: dt.datetime, expected: bool) -> None:
    assert HOURS.is_open(at) is expected
    assert HOURS.is_open(utc(at)) is expected


def test_is_open_edge_seconds() -> None:
    closing = berlin(2026, 11, 17, 17)
    assert HOURS.is_open(closing - dt.timedelta(microseconds=1))
    assert not HOURS.is_open(closing)
    assert not HOURS.is_open(berlin(2026, 11, 17, 8) - dt.timedelta(microseconds=1))


# --- custom zones, hours and days ------------------------------------------------------------


def test_custom_time_zone_tokyo() -> None:
    tokyo = OfficeHours(ZoneInfo("Asia/Tokyo"))
    # Sunday 23:30 UTC is Monday 08:30 in Tokyo: open, on another calendar day than in UTC.
    sunday_night_utc = dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC)
    assert tokyo.is_open(sunday_night_utc)
    assert not HOURS.is_open(sunday_night_utc)
    # Friday 07:00 UTC is Friday 16:00 in Tokyo; the next office hour is Monday 08:00 Tokyo.
    a = dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.UTC)
    b = dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC)
    assert tokyo.between(a, b) == 1.5 * H


def test_custom_time_zone_new_york_has_its_own_dst() -> None:
    ny = OfficeHours(ZoneInfo("America/New_York"))
    # US clocks change on 2026-03-08; Europe only on 03-29. 08:00 EDT is 12:00 UTC.
    opening = dt.datetime(2026, 3, 9, 12, 0, tzinfo=dt.UTC)
    assert ny.is_open(opening)
    assert not ny.is_open(opening - dt.timedelta(seconds=1))
    assert ny.between(opening - H, opening + H) == H


def test_custom_hours_and_days() -> None:
    weekend = OfficeHours(BERLIN, dt.time(10), dt.time(14), frozenset({5, 6}))
    assert weekend.between(berlin(2026, 11, 16), berlin(2026, 11, 23)) == 8 * H
    assert weekend.is_open(berlin(2026, 11, 21, 10))
    assert not weekend.is_open(berlin(2026, 11, 20, 12))


@pytest.mark.parametrize(
    ("saturday", "elapsed_hours"),
    [((2026, 3, 28), 47), ((2026, 10, 24), 49)],
    ids=["spring-forward", "fall-back"],
)
def test_round_the_clock_service_across_dst(saturday: tuple[int, int, int], elapsed_hours: int) -> None:
    # A 24/7 crisis line: open 00:00–23:59 every day. Saturday 12:00 → Monday 12:00 local
    # contains two one-minute closures (23:59–24:00) and, over the change, 47 or 49 real hours.
    around_the_clock = OfficeHours(BERLIN, dt.time(0), dt.time(23, 59), frozenset(range(7)))
    a = berlin(*saturday, 12)
    b = berlin(*(dt.date(*saturday) + dt.timedelta(days=2)).timetuple()[:3], 12)
    assert utc(b) - utc(a) == elapsed_hours * H
    expected = utc(b) - utc(a) - 2 * dt.timedelta(minutes=1)
    assert around_the_clock.between(utc(a), utc(b)) == expected


# --- properties -----------------------------------------------------------------------------

LO = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp())
HI = int(dt.datetime(2027, 12, 31, tzinfo=dt.UTC).timestamp())
ZONES = [dt.UTC, BERLIN, ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York")]
instants = st.builds(
    lambda s, z: dt.datetime.fromtimestamp(s, dt.UTC).astimezone(z),
    st.integers(min_value=LO, max_value=HI),
    st.sampled_from(ZONES),
)
# Near the two DST changes of 2026, so that many examples cross one.
near_dst = st.builds(
    lambda base, minutes, z: (base + dt.timedelta(minutes=minutes)).astimezone(z),
    st.sampled_from([utc(berlin(2026, 3, 29, 2)), utc(berlin(2026, 10, 25, 2))]),
    st.integers(min_value=-5 * 24 * 60, max_value=5 * 24 * 60),
    st.sampled_from(ZONES),
)
any_instant = st.one_of(instants, near_dst)
office = st.sampled_from([HOURS, OfficeHours(ZoneInfo("Asia/Tokyo")), OfficeHours(BERLIN, dt.time(9, 30))])


@settings(max_examples=80, deadline=None)
@given(office, any_instant, any_instant, any_instant)
def test_between_is_additive(hours: OfficeHours, x: dt.datetime, y: dt.datetime, z: dt.datetime) -> None:
    a, b, c = sorted((x, y, z))
    assert hours.between(a, b) + hours.between(b, c) == hours.between(a, c)


@settings(max_examples=80, deadline=None)
@given(office, any_instant, any_instant)
def test_between_is_bounded_and_zone_independent(hours: OfficeHours, x: dt.datetime, y: dt.datetime) -> None:
    a, b = sorted((x, y))
    got = hours.between(a, b)
    assert dt.timedelta(0) <= got <= b - a
    assert hours.between(b, a) == dt.timedelta(0)
    assert hours.between(utc(a), utc(b)) == got
    if hours.is_open(a) and b - a <= dt.timedelta(minutes=1) and hours.is_open(b):
        assert got == b - a
