"""Absences as people type them: ``bis 24.12. vertretung @kollegin``, ``20.12.-6.1.``,
``until 2026-12-24 substitute kim``, ``heute``, ``aus`` (back again).

Dates without a year mean the next such day (``6.1.`` typed in December is next January).
The substitute stays text here; the command resolves it to a person it can check.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_END_WORDS = {"aus", "ende", "zurück", "zurueck", "off", "back", "end", "none"}
_UNTIL = {"bis", "until", "till", "to", "bis zum", "bis einschließlich"}
_SUBSTITUTE = {"vertretung", "vertreten", "vertritt", "substitute", "cover", "covered", "sub"}
_TODAY = {"heute", "today"}
_TOMORROW = {"morgen", "tomorrow"}
_DATE_DE = re.compile(r"^(\d{1,2})[./](\d{1,2})\.?(?:(\d{2,4}))?$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


class AbsenceError(ValueError):
    def __init__(self, key: str, word: str = "") -> None:
        super().__init__(key)
        self.key = key
        self.word = word


@dataclass(frozen=True)
class Absence:
    start: dt.date
    until: dt.date  # the last day away (inclusive)
    substitute: str | None = None  # as typed; resolved by the caller

    def covers(self, day: dt.date) -> bool:
        return self.start <= day <= self.until


def parse_date(word: str, today: dt.date) -> dt.date:
    word = word.strip().rstrip(",")
    if word in _TODAY:
        return today
    if word in _TOMORROW:
        return today + dt.timedelta(days=1)
    try:
        if m := _DATE_ISO.match(word):
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if m := _DATE_DE.match(word):
            day, month, year = int(m.group(1)), int(m.group(2)), m.group(3)
            if year is not None:
                full = int(year) + (2000 if len(year) == 2 else 0)
                return dt.date(full, month, day)
            candidate = dt.date(today.year, month, day)
            return candidate if candidate >= today else dt.date(today.year + 1, month, day)
    except ValueError:
        raise AbsenceError("office.bad_date", word) from None
    raise AbsenceError("office.bad_date", word)


def parse_absence(text: str, today: dt.date) -> Absence | None:
    """None: the person is back (``aus``). Raise :class:`AbsenceError` on anything unclear."""
    words = [w for w in re.split(r"\s+", text.casefold().replace("–", "-").strip()) if w]
    if not words:
        raise AbsenceError("office.absence_empty")
    if words[0] in _END_WORDS and len(words) == 1:
        return None
    substitute: str | None = None
    typed = text.replace("–", "-").split()
    for i, word in enumerate(words):
        if word.rstrip(":") in _SUBSTITUTE:
            if not words[i + 1 :]:
                raise AbsenceError("office.substitute_missing")
            substitute = " ".join(typed[i + 1 :])  # as typed: a display name may have spaces
            words = words[:i]
            break
    if words and words[0] in ("ab", "from", "von", "vom"):
        words = words[1:]
    start = today
    if len(words) == 1 and "-" in words[0] and not _DATE_ISO.match(words[0]):
        first, last = words[0].split("-", 1)
        start, until = parse_date(first, today), parse_date(last, today)
    elif len(words) == 2 and words[0] in _UNTIL:
        until = parse_date(words[1], today)
    elif len(words) == 3 and words[1] in _UNTIL:
        start, until = parse_date(words[0], today), parse_date(words[2], today)
    elif len(words) == 1:
        until = parse_date(words[0], today)
        if words[0] not in _TODAY | _TOMORROW:
            start = today
    else:
        raise AbsenceError("office.absence_unclear", " ".join(words)[:40])
    if until < today:
        raise AbsenceError("office.absence_past")
    if start > until:
        raise AbsenceError("office.absence_backwards")
    if until < today:
        raise AbsenceError("office.absence_past")
    if (until - start).days > 366:
        raise AbsenceError("office.absence_too_long")
    return Absence(start, until, substitute)
