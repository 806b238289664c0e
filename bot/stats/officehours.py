"""Time that counts as the organisation's working time, in its own time zone.

A client who writes on Friday evening and is answered on Monday morning was answered within
an hour of office time, not after 60 hours. Times are converted to the organisation's zone
day by day, so weeks with a daylight-saving change count right.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo


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
