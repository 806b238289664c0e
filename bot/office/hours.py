"""Weekly office hours as people type them: ``Mo-Fr 9-16``, ``Mo,Mi 9-12 14-16 Fr 9-13``,
``Mon-Fri 9:30-17``, ``täglich 8-20``.

Day names are German or English (either works whatever the person's language), times are
hours with optional minutes (``9``, ``9:30``, ``9.30``, ``09:30 Uhr``). What comes out is a
set of intervals per weekday and a canonical spelling to show back.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

_DAYS: Mapping[str, int] = {
    **{name: i for i, name in enumerate(("mo", "di", "mi", "do", "fr", "sa", "so"))},
    **{name: i for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{
        name: i
        for i, name in enumerate(
            ("montag", "dienstag", "mittwoch", "donnerstag", "freitag", "samstag", "sonntag")
        )
    },
    **{
        name: i
        for i, name in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
    **{"tu": 1, "we": 2, "th": 3, "su": 6, "thur": 3, "thurs": 3, "tues": 1},
}
_EVERY_DAY = {"täglich", "taeglich", "tgl", "daily", "everyday"}
_TIME = r"(\d{1,2})(?:[:.](\d{2}))?"
_RANGE = re.compile(rf"^{_TIME}-{_TIME}$")
_SHORT = {
    "de": ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}


class HoursError(ValueError):
    """Not office hours; ``key`` names the catalog text that says what to type instead."""

    def __init__(self, key: str, word: str = "") -> None:
        super().__init__(key)
        self.key = key
        self.word = word


@dataclass(frozen=True)
class WeeklyHours:
    # Weekday (Monday = 0) → opening intervals, sorted, not overlapping.
    days: Mapping[int, tuple[tuple[dt.time, dt.time], ...]]

    def is_open(self, at: dt.datetime, holidays: Iterable[dt.date] = ()) -> bool:
        if at.date() in set(holidays):
            return False
        t = at.timetz().replace(tzinfo=None)
        return any(start <= t < end for start, end in self.days.get(at.weekday(), ()))

    def next_opening(self, at: dt.datetime, holidays: Iterable[dt.date] = ()) -> dt.datetime | None:
        """The next moment after ``at`` when these hours begin (None: never open)."""
        closed = set(holidays)
        tz = at.tzinfo
        for offset in range(0, 7 * 8):  # eight weeks covers any holiday season
            day = at.date() + dt.timedelta(days=offset)
            if day in closed:
                continue
            for start, _ in self.days.get(day.weekday(), ()):
                opening = dt.datetime.combine(day, start, tz)
                if opening > at:
                    return opening
        return None

    def spelled(self, language: str) -> str:
        """``Mo–Fr 9:00–16:00`` (days with the same hours in one range)."""
        names = _SHORT.get(language, _SHORT["en"])
        groups: list[tuple[list[int], tuple[tuple[dt.time, dt.time], ...]]] = []
        for day in range(7):
            slots = self.days.get(day, ())
            if not slots:
                continue
            if groups and groups[-1][1] == slots and groups[-1][0][-1] == day - 1:
                groups[-1][0].append(day)
            else:
                groups.append(([day], slots))
        parts = []
        for days, slots in groups:
            label = names[days[0]] if len(days) == 1 else f"{names[days[0]]}–{names[days[-1]]}"
            times = ", ".join(f"{_clock(a)}–{_clock(b)}" for a, b in slots)
            parts.append(f"{label} {times}")
        return "; ".join(parts)


def _clock(t: dt.time) -> str:
    return f"{t.hour}:{t.minute:02d}" if t != dt.time(23, 59) else "24:00"


def _time(hour: str, minute: str | None, word: str) -> dt.time:
    h, m = int(hour), int(minute or 0)
    if h == 24 and m == 0:
        return dt.time(23, 59)
    if not (0 <= h < 24 and 0 <= m < 60):
        raise HoursError("office.bad_time", word)
    return dt.time(h, m)


def _day_set(word: str) -> set[int] | None:
    if word in _EVERY_DAY:
        return set(range(7))
    days: set[int] = set()
    ends = word.split("-")
    if len(ends) > 2 or any(e.rstrip(".") not in _DAYS for e in ends):
        return None
    first, last = _DAYS[ends[0].rstrip(".")], _DAYS[ends[-1].rstrip(".")]
    day = first
    days.add(day)
    while day != last:  # "Fr-Mo" wraps over the weekend
        day = (day + 1) % 7
        days.add(day)
    return days


def parse_hours(text: str) -> WeeklyHours:
    """Raise :class:`HoursError` with what is wrong; never guess a day or an hour."""
    cleaned = text.casefold().replace("–", "-").replace("—", "-")
    cleaned = re.sub(r"\s*-\s*", "-", cleaned)
    cleaned = re.sub(r"\b(uhr|h|und|and|von|bis|from|to)\b", " ", cleaned)
    words = [w for w in re.split(r"[\s,;]+", cleaned) if w]
    if not words:
        raise HoursError("office.hours_empty")
    days: dict[int, list[tuple[dt.time, dt.time]]] = {}
    current: set[int] = set()
    after_time = False
    for word in words:
        if (found := _day_set(word)) is not None:
            current = found if after_time or not current else current | found
            after_time = False
            continue
        if not (m := _RANGE.match(word)):
            raise HoursError("office.bad_word", word)
        if not current:
            raise HoursError("office.no_days", word)
        start, end = _time(m.group(1), m.group(2), word), _time(m.group(3), m.group(4), word)
        if end <= start:
            raise HoursError("office.end_before_start", word)
        for day in current:
            days.setdefault(day, []).append((start, end))
        after_time = True
    if current and not after_time:
        raise HoursError("office.no_times")
    merged: dict[int, tuple[tuple[dt.time, dt.time], ...]] = {}
    for day, slots in days.items():
        out: list[tuple[dt.time, dt.time]] = []
        for start, end in sorted(slots):
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        merged[day] = tuple(out)
    return WeeklyHours(merged)


def from_days(days: Sequence[int], start: dt.time, end: dt.time) -> WeeklyHours:
    """Hours from the organisation's configuration (the same every open day)."""
    return WeeklyHours({d: ((start, end),) for d in days})
