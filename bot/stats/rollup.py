"""Frozen figures: each period is computed once, after it ended, and then only read.

A week is computed from the activity the store holds when it is first needed (a report, or
the scheduler once the week is over) and stored with its team rows, the true values, how many
people each figure came from, and what reports show (hidden or noised). A reporting month adds
up its frozen weeks (:mod:`bot.stats.periods`: months are whole weeks), so it agrees with them
whatever happened since; only what cannot be added (distinct rooms, medians) and the number of
people behind each figure are read from the store when the month is frozen. Later erasures
then change nothing a report shows, asking again returns the same values (noise included), and
:mod:`bot.stats.hierarchy` keeps suppression consistent between weeks, months and teams.

A period that is still running has no report: its figures would change with every message and
every erasure, and two reports of it would differ by exactly what happened in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import sys
from bisect import bisect_left
from collections.abc import Callable, Iterator
from functools import partial
from zoneinfo import ZoneInfo

from bot.context import BotContext
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
from bot.store.stats import FrozenCell, FrozenPeriod

ORGANISATION = ""
ANSWER_WINDOW_MS = 7 * 86_400_000  # answers to a period's last contacts come in the next days


class PeriodRunning(Exception):
    """The period is not over yet: there is no report for it."""

    def __init__(self, period: Period) -> None:
        super().__init__(period.label)
        self.period = period


def office_hours(ctx: BotContext) -> OfficeHours:
    s = ctx.settings.stats
    return OfficeHours(
        ZoneInfo(s.timezone),
        dt.time.fromisoformat(s.office_start),
        dt.time.fromisoformat(s.office_end),
        frozenset(s.office_days),
    )


def rotate(activity: Activity, ctx: BotContext, label: str, *, in_place: bool = False) -> Activity:
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


def is_over(ctx: BotContext, period: Period) -> bool:
    today = dt.datetime.fromtimestamp(ctx.clock(), office_hours(ctx).tz).date()
    return today >= period.end


async def frozen(ctx: BotContext, period: Period) -> FrozenPeriod:
    """The period's stored figures, computed and stored first if this is the first time."""
    if not is_over(ctx, period):
        raise PeriodRunning(period)
    async with ctx.stats.freezing:
        with _loop_first():
            return await _get(ctx, period, _Source(ctx))


# While a worker thread counts, the event loop (every answer of the bot, and each of its store
# round trips) waits up to the interpreter's switch interval (5 ms) for its turn: measured, that
# made answers 1.4× slower during a freeze. Half a millisecond is the loop's turn at once.
LOOP_FIRST_INTERVAL = 0.0005


@contextlib.contextmanager
def _loop_first() -> Iterator[None]:
    """The bot's event loop first while a period is frozen: a short switch interval, and no
    cyclic garbage collection. A freeze makes millions of tuples (no cycles among them), and
    each full collection walks all of them with the whole interpreter stopped: up to a second
    over a million rows, in which the bot answers nobody. The collector runs again after."""
    interval, collecting = sys.getswitchinterval(), gc.isenabled()
    sys.setswitchinterval(min(interval, LOOP_FIRST_INTERVAL))
    gc.disable()
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        if collecting:
            gc.enable()


async def freeze_due(ctx: BotContext) -> None:
    """Freeze the last week and month that are over, so that an erasure after their end
    changes nothing even if nobody asked for a report yet."""
    today = dt.datetime.fromtimestamp(ctx.clock(), office_hours(ctx).tz).date()
    from bot.stats.periods import period_containing

    for kind in ("week", "month"):
        await frozen(ctx, period_containing(today, kind).previous())


class _Source:
    """The messages of one freeze, read from the store once: a month and the weeks it freezes
    first are slices of the same rows (each week reads a week further, into the next one)."""

    def __init__(self, ctx: BotContext) -> None:
        self.ctx = ctx
        self.span: tuple[int, int] | None = None
        self.messages: list[Message] = []
        self.times: list[int] = []

    async def read(self, lo: int, hi: int) -> list[Message]:
        if self.span is None or not (self.span[0] <= lo and hi <= self.span[1]):
            bot = self.ctx.subject(self.ctx.matrix.user_id)
            self.messages = await self.ctx.stats.messages(lo, hi, bot)
            self.times = [m.ts_ms for m in self.messages]
            self.span = (lo, hi)
        return self.messages[bisect_left(self.times, lo) : bisect_left(self.times, hi)]

    def forget(self) -> None:
        self.span, self.messages, self.times = None, [], []


async def _get(ctx: BotContext, period: Period, source: _Source) -> FrozenPeriod:
    stored = await ctx.stats.frozen(period.label)
    if stored is not None:
        return stored
    if period.kind == "week":
        computed = await _week(ctx, period, source)
    else:
        lo, hi = period.bounds_ms(office_hours(ctx).tz)
        await source.read(lo, hi + ANSWER_WINDOW_MS)  # once, for the month and its weeks
        computed = await _month(ctx, period, source)
    await ctx.stats.freeze(computed, int(ctx.clock() * 1000))
    stored = await ctx.stats.frozen(period.label)
    assert stored is not None
    return stored


def _noise(ctx: BotContext) -> Callable[[int], int] | None:
    epsilon = ctx.settings.stats.epsilon
    return laplace_noise(epsilon) if epsilon else None


def _row(
    figs: dict[str, Figure], hidden: set[str], noise: Callable[[int], int] | None
) -> dict[str, FrozenCell]:
    cells = cells_of(figs, hidden, noise)
    return {
        key: FrozenCell(key, f.value, len(f.persons), cells[key].value, cells[key].suppressed, f.unit)
        for key, f in figs.items()
    }


async def _activity(ctx: BotContext, period: Period, source: _Source) -> tuple[Activity, int, int, list[str]]:
    """The period's activity (its messages only as far as they decide its figures) and the
    teams active in it or in the week after it."""
    lo, hi = period.bounds_ms(office_hours(ctx).tz)
    bot = ctx.subject(ctx.matrix.user_id)
    messages = await source.read(lo, hi + ANSWER_WINDOW_MS)

    def cut() -> tuple[list[Message], list[str]]:
        return until_answered(messages, hi), sorted({m.team for m in messages if m.team})

    needed, teams = await asyncio.to_thread(cut)
    return await ctx.stats.activity(lo, hi + ANSWER_WINDOW_MS, bot, needed), lo, hi, teams


async def _week(ctx: BotContext, period: Period, source: _Source) -> FrozenPeriod:
    s = ctx.settings.stats
    k = max(s.k, MIN_K)
    hours = office_hours(ctx)
    target = dt.timedelta(hours=s.target_hours)
    raw, lo, hi, team_ids = await _activity(ctx, period, source)
    noise = _noise(ctx)
    tag = ctx.pseudonyms.derive(f"stats:{period.label}")
    default = ctx.catalog.default_language

    def compute() -> tuple[dict[str, Figure], list[TeamRow]]:
        rotated = rotate(raw, ctx, period.label)
        labels = {
            tag(t): s.team_names.get(t) or ctx.catalog.text(default, "stats.team", n=str(i))
            for i, t in enumerate(team_ids, start=1)
        }
        turns = turns_of(rotated, lo, hi, hours)
        teams = team_rows(
            rotated, lo, hi, hours, target, k, labels, teams=[tag(t) for t in team_ids], turns=turns
        )
        return figures(rotated, lo, hi, hours, target, turns), teams

    # Off the event loop: the bot keeps answering while a week of messages is counted.
    figs, teams = await asyncio.to_thread(compute)
    rows: list[tuple[str, dict[str, FrozenCell]]] = [
        (ORGANISATION, _row(figs, below_threshold(figs, k), noise))
    ]
    for team in teams:
        label = team.label
        while label in dict(rows):  # two teams configured with one name still get two rows
            label += "*"
        rows.append(
            (label, _row(team.figures, {key for key, c in team.cells.items() if c.suppressed}, noise))
        )
    return FrozenPeriod(period.label, k, s.epsilon, await ctx.stats.includes_synthetic(lo, hi), rows)


def _share(numerator: float, denominator: float) -> float | None:
    return 100.0 * numerator / denominator if denominator else None


async def _month(ctx: BotContext, period: Period, source: _Source) -> FrozenPeriod:
    s = ctx.settings.stats
    k = max(s.k, MIN_K)
    hours = office_hours(ctx)
    target = dt.timedelta(hours=s.target_hours)
    weeks = [(w, await _get(ctx, w, source)) for w in period.weeks]
    org = [dict(fp.rows)[ORGANISATION] for _, fp in weeks]
    raw, lo, hi, _ = await _activity(ctx, period, source)
    source.forget()  # the month's own pseudonyms replace the store's from here on
    rotated = await asyncio.to_thread(partial(rotate, raw, ctx, period.label, in_place=True))
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
    return FrozenPeriod(period.label, k, s.epsilon, demo, [(ORGANISATION, _row(month, hidden, _noise(ctx)))])
