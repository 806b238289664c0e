"""Time that counts as the organisation's working time, in its own time zone.

A client who writes on Friday evening and is answered on Monday morning was answered within
an hour of office time, not after 60 hours. Times are converted to the organisation's zone
day by day, so weeks with a daylight-saving change count right.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


@dataclass(frozen=True)
class OfficeHours:
    tz: ZoneInfo
    start: dt.time = dt.time(8, 0)
    end: dt.time = dt.time(17, 0)
    weekdays: frozenset[int] = frozenset(range(5))  # Monday = 0

    def is_open(self, at: dt.datetime) -> bool:
        local = at.astimezone(self.tz)
        return local.weekday() in self.weekdays and self.start <= local.time() < self.end

    def between(self, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
        """Office time between two instants (zero if ``b`` is not after ``a``)."""
        if b <= a:
            return dt.timedelta(0)
        total = dt.timedelta(0)
        day = a.astimezone(self.tz).date()
        last = b.astimezone(self.tz).date()
        while day <= last:
            if day.weekday() in self.weekdays:
                # Wall-clock opening times on that day, as instants (DST-aware through tz).
                open_at = dt.datetime.combine(day, self.start, self.tz)
                close_at = dt.datetime.combine(day, self.end, self.tz)
                lo, hi = max(a, open_at), min(b, close_at)
                if hi > lo:
                    # In UTC: same-zone aware datetimes subtract as wall-clock times.
                    total += hi.astimezone(dt.UTC) - lo.astimezone(dt.UTC)
            day += dt.timedelta(days=1)
        return total

    def between_ms(self, a_ms: int, b_ms: int) -> dt.timedelta:
        """:meth:`between` for two instants in Unix milliseconds, the same result: a report
        asks this for every contact of a month (hundreds of thousands), so each day's opening
        hours are worked out once."""
        if b_ms <= a_ms:
            return dt.timedelta(0)
        day, last = _local_day(self.tz, a_ms), _local_day(self.tz, b_ms)
        total = 0
        while day <= last:
            hours = _opening(self, day)
            if hours is not None:
                lo, hi = max(a_ms, hours[0]), min(b_ms, hours[1])
                if hi > lo:
                    total += hi - lo
            day += dt.timedelta(days=1)
        return dt.timedelta(milliseconds=total)

    def is_open_ms(self, at_ms: int) -> bool:
        return self.is_open(dt.datetime.fromtimestamp(at_ms / 1000, self.tz))


_QUARTER_MS = 900_000  # every time zone's offset is a multiple of 15 minutes


def _local_day(tz: ZoneInfo, at_ms: int) -> dt.date:
    """The local date of an instant. Within a quarter of an hour every instant has the same
    local date (offsets and their changes fall on quarter hours), so that is what is cached."""
    return _quarter_day(tz, at_ms // _QUARTER_MS)


@functools.lru_cache(maxsize=65536)
def _quarter_day(tz: ZoneInfo, quarter: int) -> dt.date:
    return dt.datetime.fromtimestamp(quarter * _QUARTER_MS / 1000, tz).date()


@functools.lru_cache(maxsize=4096)
def _opening(hours: OfficeHours, day: dt.date) -> tuple[int, int] | None:
    """A working day's opening and closing instants (Unix ms), None on a day off."""
    if day.weekday() not in hours.weekdays:
        return None
    open_at = dt.datetime.combine(day, hours.start, hours.tz)
    close_at = dt.datetime.combine(day, hours.end, hours.tz)
    return (open_at - _EPOCH) // _MS, (close_at - _EPOCH) // _MS
