"""Reporting periods: ISO weeks (``2026-W47``) and calendar months (``2026-11``), in the
organisation's time zone, so that "this week" starts on Monday 00:00 where the team works."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

_WEEK = re.compile(r"^([0-9]{4})-W([0-9]{2})$")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")


@dataclass(frozen=True, order=True)
class Period:
    start: dt.date
    end: dt.date  # exclusive
    kind: str  # week | month

    @property
    def label(self) -> str:
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.year}-{self.start.month:02d}"

    def bounds_ms(self, tz: ZoneInfo) -> tuple[int, int]:
        def ms(day: dt.date) -> int:
            return int(dt.datetime.combine(day, dt.time(0), tz).timestamp() * 1000)

        return ms(self.start), ms(self.end)

    def previous(self) -> Period:
        return period_containing(self.start - dt.timedelta(days=1), self.kind)

    def trend(self, n: int) -> list[Period]:
        """This period and the ``n - 1`` before it, oldest first."""
        out = [self]
        while len(out) < n:
            out.append(out[-1].previous())
        return list(reversed(out))


def period_containing(day: dt.date, kind: str) -> Period:
    if kind == "week":
        start = day - dt.timedelta(days=day.weekday())
        return Period(start, start + dt.timedelta(days=7), "week")
    start = day.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return Period(start, end, "month")


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
            return period_containing(dt.date(int(m.group(1)), int(m.group(2)), 1), "month")
        except ValueError:
            raise ValueError(f"{label!r}: no such month") from None
    raise ValueError(f"{label!r} is not a period (examples: 2026-W47, 2026-11)")
