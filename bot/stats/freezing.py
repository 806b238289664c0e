"""Computing a period's frozen figures from the store: its weeks first, then a month from them.

The counting, without the bot: it needs the store (reads), the statistics settings, the
pseudonym key and the texts, and hands each computed period to ``Counter.freeze`` to be
stored. The bot runs it in a process of its own (:mod:`bot.stats.freezer_process`), which
hands the periods back to the bot's one writer; tests run it in-process. Either way the same
code computes the same figures. Nothing here imports the Matrix layer or the bot's context,
so the child process loads no more than the counting needs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from bot.stats.aggregate import (
    Activity,
    ConsentEvent,
    Figure,
    Message,
    RightsRequest,
    figures,
    turns_of,
    until_answered,
)
from bot.stats.anonymize import MIN_K, below_threshold, cells_of, laplace_noise
from bot.stats.hierarchy import ADDITIVE_OVER_TIME, protect_total
from bot.stats.officehours import OfficeHours
from bot.stats.periods import Period
from bot.stats.teams import TeamRow, team_rows
from bot.store.stats import FrozenCell, FrozenPeriod, StatsStore

if TYPE_CHECKING:
    from bot.config import StatsSettings
    from bot.i18n import Catalog
    from bot.pseudonym import Pseudonymizer

ORGANISATION = ""
ANSWER_WINDOW_MS = 7 * 86_400_000  # answers to a period's last contacts come in the next days


@dataclass(frozen=True)
class CountingSettings:
    """The statistics settings the counting reads: plain values, so that the child process
    need not load the configuration's models (pydantic) to get them."""

    k: int
    epsilon: float | None
    timezone: str
    office_start: str
    office_end: str
    office_days: tuple[int, ...]
    target_hours: float
    team_names: dict[str, str]

    @classmethod
    def of(cls, s: StatsSettings) -> CountingSettings:
        return cls(
            s.k,
            s.epsilon,
            s.timezone,
            s.office_start,
            s.office_end,
            tuple(s.office_days),
            s.target_hours,
            dict(s.team_names),
        )


class HasPseudonyms(Protocol):
    @property
    def pseudonyms(self) -> Pseudonymizer: ...


@dataclass
class Counter:
    """What a freeze needs. ``freeze`` stores a computed period (the bot's writer); the
    period is read back from ``stats`` after, so a month adds up its weeks as stored."""

    stats: StatsStore
    settings: CountingSettings
    catalog: Catalog
    pseudonyms: Pseudonymizer
    bot_subject: str  # the bot's own messages are not counted
    freeze: Callable[[FrozenPeriod], Awaitable[None]]


def office_hours_of(s: StatsSettings | CountingSettings) -> OfficeHours:
    return OfficeHours(
        ZoneInfo(s.timezone),
        dt.time.fromisoformat(s.office_start),
        dt.time.fromisoformat(s.office_end),
        frozenset(s.office_days),
    )


def rotate(activity: Activity, ctx: HasPseudonyms, label: str, *, in_place: bool = False) -> Activity:
    """Period pseudonyms: the same person gets unrelated tags in different periods.

    One HMAC per distinct person, room and team, not per row: a month has a million rows and
    under a few thousand distinct values (the tags are the same either way). ``in_place``:
    the activity's list of messages is the caller's own and is rotated where it is, so a month
    is not held twice in memory."""
    derived = ctx.pseudonyms.derive(f"stats:{label}")
    tags: dict[str, str] = {}

    def tag(value: str) -> str:
        found = tags.get(value)
        if found is None:
            found = tags[value] = derived(value)
        return found

    # The messages' values first, so the loop over the rows only looks them up.
    rows = activity.messages
    for value in {m.room for m in rows} | {m.sender for m in rows} | {m.team for m in rows if m.team}:
        tag(value)
    if in_place and isinstance(rows, list):
        for i, m in enumerate(rows):
            rows[i] = Message(tags[m.room], tags[m.sender], m.role, m.ts_ms, m.team and tags[m.team])
        rotated = rows
    else:
        rotated = [
            Message(tags[m.room], tags[m.sender], m.role, m.ts_ms, m.team and tags[m.team]) for m in rows
        ]
    return Activity(
        rotated,
        [
            ConsentEvent(tag(c.subject), c.decision, c.ts_ms, c.first, c.team and tag(c.team), c.closed_ms)
            for c in activity.consents
        ],
        [RightsRequest(r.kind, tag(r.subject), r.requested_ms, r.served_ms) for r in activity.rights],
        activity.retention,
    )


class Source:
    """The messages of one freeze, read from the store once: a month and the weeks it freezes
    first are slices of the same rows (each week reads a week further, into the next one)."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.span: tuple[int, int] | None = None
        self.messages: list[Message] = []
        self.times: list[int] = []

    async def read(self, lo: int, hi: int) -> list[Message]:
        if self.span is None or not (self.span[0] <= lo and hi <= self.span[1]):
            self.messages = await self.counter.stats.messages(lo, hi, self.counter.bot_subject)
            self.times = [m.ts_ms for m in self.messages]
            self.span = (lo, hi)
        return self.messages[bisect_left(self.times, lo) : bisect_left(self.times, hi)]

    def forget(self) -> None:
        self.span, self.messages, self.times = None, [], []


async def get(c: Counter, period: Period, source: Source) -> FrozenPeriod:
    """The period as stored; computed (and handed to ``c.freeze``) first if it is not."""
    stored = await c.stats.frozen(period.label)
    if stored is not None:
        return stored
    if period.kind == "week":
        computed = await _week(c, period, source)
    else:
        lo, hi = period.bounds_ms(office_hours_of(c.settings).tz)
        await source.read(lo, hi + ANSWER_WINDOW_MS)  # once, for the month and its weeks
        computed = await _month(c, period, source)
    await c.freeze(computed)
    stored = await c.stats.frozen(period.label)
    assert stored is not None
    return stored


def _noise(c: Counter) -> Callable[[int], int] | None:
    epsilon = c.settings.epsilon
    return laplace_noise(epsilon) if epsilon else None


def _row(
    figs: dict[str, Figure], hidden: set[str], noise: Callable[[int], int] | None
) -> dict[str, FrozenCell]:
    cells = cells_of(figs, hidden, noise)
    return {
        key: FrozenCell(key, f.value, len(f.persons), cells[key].value, cells[key].suppressed, f.unit)
        for key, f in figs.items()
    }


async def _activity(c: Counter, period: Period, source: Source) -> tuple[Activity, int, int, list[str]]:
    """The period's activity (its messages only as far as they decide its figures) and the
    teams active in it or in the week after it."""
    lo, hi = period.bounds_ms(office_hours_of(c.settings).tz)
    messages = await source.read(lo, hi + ANSWER_WINDOW_MS)

    def cut() -> tuple[list[Message], list[str]]:
        return until_answered(messages, hi), sorted({m.team for m in messages if m.team})

    needed, teams = await asyncio.to_thread(cut)
    return await c.stats.activity(lo, hi + ANSWER_WINDOW_MS, c.bot_subject, needed), lo, hi, teams


async def _week(c: Counter, period: Period, source: Source) -> FrozenPeriod:
    s = c.settings
    k = max(s.k, MIN_K)
    hours = office_hours_of(s)
    target = dt.timedelta(hours=s.target_hours)
    raw, lo, hi, team_ids = await _activity(c, period, source)
    noise = _noise(c)
    tag = c.pseudonyms.derive(f"stats:{period.label}")
    default = c.catalog.default_language

    def compute() -> tuple[dict[str, Figure], list[TeamRow]]:
        rotated = rotate(raw, c, period.label)
        labels = {
            tag(t): s.team_names.get(t) or c.catalog.text(default, "stats.team", n=str(i))
            for i, t in enumerate(team_ids, start=1)
        }
        turns = turns_of(rotated, lo, hi, hours)
        teams = team_rows(
            rotated, lo, hi, hours, target, k, labels, teams=[tag(t) for t in team_ids], turns=turns
        )
        return figures(rotated, lo, hi, hours, target, turns), teams

    # Off the event loop (where this runs in-process): the loop keeps serving meanwhile.
    figs, teams = await asyncio.to_thread(compute)
    rows: list[tuple[str, dict[str, FrozenCell]]] = [
        (ORGANISATION, _row(figs, below_threshold(figs, k), noise))
    ]
    for team in teams:
        label = team.label
        while label in dict(rows):  # two teams configured with one name still get two rows
            label += "*"
        rows.append(
            (label, _row(team.figures, {key for key, cl in team.cells.items() if cl.suppressed}, noise))
        )
    return FrozenPeriod(period.label, k, s.epsilon, await c.stats.includes_synthetic(lo, hi), rows)


def _share(numerator: float, denominator: float) -> float | None:
    return 100.0 * numerator / denominator if denominator else None


async def _month(c: Counter, period: Period, source: Source) -> FrozenPeriod:
    s = c.settings
    k = max(s.k, MIN_K)
    hours = office_hours_of(s)
    target = dt.timedelta(hours=s.target_hours)
    weeks = [(w, await get(c, w, source)) for w in period.weeks]
    org = [dict(fp.rows)[ORGANISATION] for _, fp in weeks]
    raw, lo, hi, _ = await _activity(c, period, source)
    source.forget()  # the month's own pseudonyms replace the store's from here on
    rotated = await asyncio.to_thread(partial(rotate, raw, c, period.label, in_place=True))
    del raw
    live = await asyncio.to_thread(figures, rotated, lo, hi, hours, target)

    def total(key: str) -> float:
        return sum(cells[key].raw or 0.0 for cells in org)

    def counted(key: str) -> float:  # a share's numerator, recovered from the share and its base
        return sum(
            round((cells[key].raw or 0.0) * (cells["client_contacts"].raw or 0.0) / 100.0) for cells in org
        )

    # A figure added after some of these weeks were frozen: they never showed it, and the
    # month cannot be their sum, so the month does not show it either.
    missing = {key for key in ADDITIVE_OVER_TIME if any(key not in cells for cells in org)}
    values: dict[str, float | None] = {key: total(key) for key in ADDITIVE_OVER_TIME if key not in missing}
    values["answered_in_target"] = _share(counted("answered_in_target"), total("client_contacts"))
    values["after_hours"] = _share(counted("after_hours"), total("client_contacts"))
    values["consent_rate"] = _share(
        total("consent_given"), total("consent_given") + total("consent_declined")
    )
    month = {
        key: Figure(key, values[key], f.persons, f.about_people, f.unit) if key in values else f
        for key, f in live.items()
        if key not in missing
    }
    hidden = below_threshold(month, k)

    # What the month minus its shown weeks would reveal: the weeks hidden in each column.
    week_figures: dict[str, dict[str, Figure]] = {}
    persons: dict[str, list[frozenset[str]]] = {}
    amounts: dict[str, list[float]] = {}
    for (week, _), cells in zip(weeks, org, strict=True):
        for key in ADDITIVE_OVER_TIME:
            if key in missing or not cells[key].suppressed:
                continue
            if week.label not in week_figures:
                wlo, whi = week.bounds_ms(hours.tz)
                week_figures[week.label] = await asyncio.to_thread(figures, rotated, wlo, whi, hours, target)
            persons.setdefault(key, []).append(week_figures[week.label][key].persons)
            amounts.setdefault(key, []).append(cells[key].raw or 0.0)
    protect_total(hidden, persons, amounts, month.keys(), k)
    demo = any(fp.demo_data for _, fp in weeks)
    return FrozenPeriod(period.label, k, s.epsilon, demo, [(ORGANISATION, _row(month, hidden, _noise(c)))])
