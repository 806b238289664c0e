"""The data-protection section: what leadership hands to the data-protection officer.

Everything comes from the evidence Lotse keeps anyway: the consent log (consents recorded,
withdrawals and when the counselling room was closed), the rights requests and erasure
receipts (access and erasure, time to completion), the retention runs (sweeps on schedule,
messages and files deleted, failures) and the erasures still waiting (legal hold, documentation
duty, redactions the homeserver refused and that are tried again).

**The span.** Figures about people (a consent, a withdrawal, a request) come from the frozen
*reporting month*, not the week: in a week they are nearly always one or two people, which the
k-rule would hide (or which would point at someone). A weekly report shows the last reporting
month that is over when the week ends; a monthly report its own month. The month's figures are
the frozen ones (:mod:`bot.stats.rollup`), so they are protected against subtraction like
every other published figure and never change afterwards.

Figures about the bot's own duties (sweeps, deletions, failures) are not about people and are
shown exactly. What is still open (erasures waiting) is a snapshot at the time the report is
made; each open erasure is one person's, so a number from 1 to k-1 reads "too few cases" (there
are some; the deletion protocol in the admin room lists them by receipt number).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.context import BotContext
from bot.stats import freezing, rollup
from bot.stats.anonymize import MIN_K, Cell
from bot.stats.periods import Period, period_containing

# The frozen figures the section shows, in its order.
PRIVACY_FIGURES = (
    "consent_asked",
    "consent_given",
    "consent_declined",
    "consent_withdrawn",
    "withdrawal_honoured",
    "withdrawal_minutes",
    "access_requests",
    "erasure_requests",
    "rights_turnaround",
    "retention_removed",
    "retention_media",
    "retention_failures",
)


@dataclass(frozen=True)
class Privacy:
    period: Period  # the reporting month the figures cover
    cells: dict[str, Cell]
    sweeps: int  # retention sweeps started in the month
    sweeps_expected: int  # how many the schedule asked for (from the first sweep ever)
    sweep_minutes: float
    longest_gap_minutes: float | None  # the longest time without a sweep, None if none ran
    unfinished_sweeps: int  # started but never finished (a crash; the next one resumes)
    open_retries: Cell  # erasures with redactions the homeserver refused, tried again
    open_postponed: Cell  # erasures waiting for a legal hold or a documentation duty to end
    as_of: dt.date  # when the open ones were counted
    demo_data: bool = False


def month_for(period: Period) -> Period:
    """The reporting month a report's data-protection section covers (see the module doc)."""
    if period.kind == "month":
        return period
    month = period_containing(period.start, "month")
    return month if month.end <= period.end else month.previous()


def _open(n: int, k: int) -> Cell:
    if 0 < n < k:
        return Cell("open", None, True, "count")
    return Cell("open", float(n), False, "count")


async def build(ctx: BotContext, period: Period) -> Privacy:
    month = month_for(period)
    frozen = await rollup.frozen(ctx, month)
    org = dict(frozen.rows)[freezing.ORGANISATION]
    cells = {
        key: Cell(key, c.shown, c.suppressed, c.unit) for key, c in org.items() if key in PRIVACY_FIGURES
    }
    tz = rollup.office_hours(ctx).tz
    lo, hi = month.bounds_ms(tz)
    interval_ms = ctx.settings.retention.sweep_minutes * 60_000
    runs = await ctx.stats.sweeps(lo, hi)
    first = await ctx.stats.first_sweep()
    since = lo if first is None else max(lo, first)
    expected = int((hi - since) // interval_ms) if first is not None and first < hi else 0
    starts = [start for start, _ in runs]
    gaps = [b - a for a, b in zip([since, *starts], [*starts, hi], strict=True)] if starts else []
    k = max(ctx.settings.stats.k, MIN_K)
    waiting = await ctx.stats.open_erasures()
    return Privacy(
        month,
        cells,
        len(runs),
        expected,
        ctx.settings.retention.sweep_minutes,
        max(gaps) / 60_000 if gaps else None,
        sum(1 for _, finished in runs if finished is None),
        _open(waiting.get("retry", 0), k),
        _open(waiting.get("postponed", 0), k),
        dt.datetime.fromtimestamp(ctx.clock(), tz).date(),
        frozen.demo_data,
    )
