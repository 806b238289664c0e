"""How figures read in a report: periods as people name them, durations in hours and minutes,
numbers with the language's decimal mark, and the change against the period before.

German: "KW 49 (30.11.–6.12.)", "November 2026 (2.–29.11.)", "1 Std. 5 min", "92 %", "1,5".
English: "Week 49 (30 Nov – 6 Dec)", "November 2026 (2–29 Nov)", "1 h 5 min", "92%", "1.5".
A hidden figure reads "zu wenige Fälle" / "too few cases", never "< 5" (which next to a
percentage reads as "under 5 %"). The machine label (``2026-W49``) stays in file names and CSV.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal

from bot.i18n import Catalog
from bot.stats.anonymize import Cell
from bot.stats.periods import Period


def _locale(language: str) -> str:
    try:
        Locale.parse(language)
    except (ValueError, UnknownLocaleError):
        return "en"
    return language


def _span(first: dt.date, last: dt.date, language: str) -> str:
    """The days of a period, short: 16.–22.11. / 30.11.–6.12. / 16–22 Nov / 30 Nov – 6 Dec."""
    if language == "de":
        if (first.year, first.month) == (last.year, last.month):
            return f"{first.day}.–{last.day}.{last.month}."
        return f"{first.day}.{first.month}.–{last.day}.{last.month}."

    def month(day: dt.date) -> str:
        return str(format_date(day, "MMM", locale=_locale(language)))

    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {month(last)}"
    return f"{first.day} {month(first)} – {last.day} {month(last)}"


def period_name(catalog: Catalog, period: Period, language: str) -> str:
    """ "KW 49 (30.11.–6.12.)", "November 2026 (2.–29.11.)"; a month is its whole ISO weeks."""
    span = _span(period.start, period.last_day, language)
    if period.kind == "week":
        week = period.start.isocalendar()[1]
        return catalog.text(language, "stats.period.week", week=str(week), span=span)
    year, month = (int(part) for part in period.label.split("-"))
    name = format_date(dt.date(year, month, 1), "LLLL yyyy", locale=_locale(language))
    return catalog.text(language, "stats.period.month", month=name, span=span)


def period_short(catalog: Catalog, period: Period, language: str) -> str:
    """ "KW 48", "Oktober 2026": how the period before is named beside a change."""
    if period.kind == "week":
        return catalog.text(language, "stats.period.week_short", week=str(period.start.isocalendar()[1]))
    year, month = (int(part) for part in period.label.split("-"))
    return format_date(dt.date(year, month, 1), "LLLL yyyy", locale=_locale(language))


def tick(period_label: str, language: str) -> str:
    """A chart's axis label for a period: "KW 49" / "W49", "Nov." / "Nov"."""
    if "-W" in period_label:
        week = int(period_label.split("-W")[1])
        return f"KW {week}" if language == "de" else f"W{week}"
    year, month = (int(part) for part in period_label.split("-"))
    return format_date(dt.date(year, month, 1), "MMM yy", locale=_locale(language))


def date(day: dt.date, language: str) -> str:
    """7.12.2026 / 7 Dec 2026."""
    if language == "de":
        return f"{day.day}.{day.month}.{day.year}"
    return str(format_date(day, "d MMM y", locale=_locale(language)))


def number(value: float, language: str, pattern: str = "#,##0") -> str:
    return str(format_decimal(value, pattern, locale=_locale(language)))


def percent(value: float, language: str) -> str:
    # German sets a (narrow) space before the sign, English none.
    return f"{round(value)}\u202f%" if language == "de" else f"{round(value)}%"


def duration(catalog: Catalog, minutes: float, language: str) -> str:
    """Hours and minutes ("1 Std. 5 min"); days and hours from a day ("2 Tage 3 Std.")."""
    t = catalog.text
    total = round(minutes)
    if minutes < 1:
        return t(language, "stats.duration.under_minute")
    if total < 60:
        return t(language, "stats.duration.minutes", n=str(total))
    if total < 24 * 60:
        hours, rest = divmod(total, 60)
        out = t(language, "stats.duration.hours", n=str(hours))
        return out if rest == 0 else f"{out} {t(language, 'stats.duration.minutes', n=str(rest))}"
    days, rest = divmod(round(minutes / 60), 24)
    out = t(language, "stats.duration.day" if days == 1 else "stats.duration.days", n=str(days))
    return out if rest == 0 else f"{out} {t(language, 'stats.duration.hours', n=str(rest))}"


def value(catalog: Catalog, cell: Cell | None, language: str) -> str:
    """A figure as a sentence or a tile shows it; "–" when there is nothing to compute."""
    if cell is None or (cell.value is None and not cell.suppressed):
        return "–"
    if cell.suppressed:
        return catalog.text(language, "stats.too_few")
    assert cell.value is not None
    if cell.unit == "percent":
        return percent(cell.value, language)
    if cell.unit == "minutes":
        return duration(catalog, cell.value, language)
    return number(round(cell.value), language)


def shown(cell: Cell | None) -> float | None:
    """The value a chart may draw: None when hidden or nothing to compute."""
    if cell is None or cell.suppressed:
        return None
    return cell.value


@dataclass(frozen=True)
class Change:
    text: str  # "+3 ggü. KW 48", "−4 Pp. ggü. KW 48", "wie KW 48", "KW 48: zu wenige Fälle"
    direction: int  # 1 up, -1 down, 0 same or not comparable


def change(catalog: Catalog, now: Cell | None, before: Cell | None, previous: str, language: str) -> Change:
    """The change of a figure against the period before, in words a reader takes in at once.
    Shares change by percentage points, durations by hours and minutes."""
    t = catalog.text
    if shown(now) is None:
        return Change("", 0)
    if before is None or (before.value is None and not before.suppressed):
        return Change(t(language, "stats.change.none", previous=previous), 0)
    if before.suppressed:
        return Change(t(language, "stats.change.hidden", previous=previous), 0)
    assert now is not None and now.value is not None and before.value is not None
    unit = now.unit
    if unit == "percent":
        delta = round(now.value) - round(before.value)
        amount = t(language, "stats.change.points", n=str(abs(delta)))
    elif unit == "minutes":
        delta = round(now.value) - round(before.value)
        amount = duration(catalog, abs(delta), language) if delta else ""
    else:
        delta = round(now.value) - round(before.value)
        amount = number(abs(delta), language)
    if delta == 0:
        return Change(t(language, "stats.change.same", previous=previous), 0)
    sign = "+" if delta > 0 else "−"
    return Change(
        t(language, "stats.change.by", amount=f"{sign}{amount}", previous=previous), 1 if delta > 0 else -1
    )
