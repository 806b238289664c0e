"""Reporting periods: ISO weeks (``2026-W47``) and reporting months (``2026-11``), in the
organisation's time zone, so that "this week" starts on Monday 00:00 where the team works.

A reporting month is made of whole ISO weeks: those whose Thursday falls in the calendar
month (the ISO rule that also assigns weeks to years). November 2026 is Monday 2 to Sunday 29
November, weeks 45–48. Because a month is exactly the sum of its weeks, no week straddles two
months, and a month's figures cannot be played off against weeks that reach outside it: the
periods nest, which is what lets :mod:`bot.stats.hierarchy` prove that subtraction reveals
nothing hidden.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

_WEEK = re.compile(r"^([0-9]{4})-W([0-9]{2})$")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_THURSDAY = 3


@dataclass(frozen=True, order=True)
class Period:
    start: dt.date  # a Monday
    end: dt.date  # exclusive, a Monday
    kind: str  # week | month

    @property
    def label(self) -> str:
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        month = _month_of_week(self.start)
        return f"{month.year}-{month.month:02d}"

    @property
    def weeks(self) -> list[Period]:
        """The ISO weeks this period is made of, oldest first."""
        return [
            Period(self.start + dt.timedelta(days=7 * i), self.start + dt.timedelta(days=7 * (i + 1)), "week")
            for i in range((self.end - self.start).days // 7)
        ]

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    def bounds_ms(self, tz: ZoneInfo) -> tuple[int, int]:
        def ms(day: dt.date) -> int:
            return int(dt.datetime.combine(day, dt.time(0), tz).timestamp() * 1000)

        return ms(self.start), ms(self.end)

    def previous(self) -> Period:
        return period_containing(self.start - dt.timedelta(days=1), self.kind)

    def next(self) -> Period:
        return period_containing(self.end, self.kind)

    def trend(self, n: int) -> list[Period]:
        """This period and the ``n - 1`` before it, oldest first."""
        out = [self]
        while len(out) < n:
            out.append(out[-1].previous())
        return list(reversed(out))


def _month_of_week(monday: dt.date) -> dt.date:
    """The first of the calendar month that the week starting on ``monday`` belongs to."""
    return (monday + dt.timedelta(days=_THURSDAY)).replace(day=1)


def _first_monday(month: dt.date) -> dt.date:
    """The Monday of the first week whose Thursday is in ``month``."""
    first = month.replace(day=1)
    thursday = first + dt.timedelta(days=(_THURSDAY - first.weekday()) % 7)
    return thursday - dt.timedelta(days=_THURSDAY)


def _month(first_of_month: dt.date) -> Period:
    following = (first_of_month + dt.timedelta(days=32)).replace(day=1)
    return Period(_first_monday(first_of_month), _first_monday(following), "month")


def period_containing(day: dt.date, kind: str) -> Period:
    monday = day - dt.timedelta(days=day.weekday())
    if kind == "week":
        return Period(monday, monday + dt.timedelta(days=7), "week")
    return _month(_month_of_week(monday))


def parse_period(label: str) -> Period:
    label = label.strip()
    if m := _WEEK.match(label):
        try:
            start = dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        except ValueError:
            raise ValueError(f"{label!r}: no such ISO week") from None
        return Period(start, start + dt.timedelta(days=7), "week")
    if m := _MONTH.match(label):
        try:
            return _month(dt.date(int(m.group(1)), int(m.group(2)), 1))
        except ValueError:
            raise ValueError(f"{label!r}: no such month") from None
    raise ValueError(f"{label!r} is not a period (examples: 2026-W47, 2026-11)")
