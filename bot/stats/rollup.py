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

The counting (:mod:`bot.stats.freezing`) runs in a child process at a lower priority
(:mod:`bot.stats.freezer_process`); this side starts it, stores what it hands back through the
store's one writer, and turns any failure of it into :class:`FreezeFailed`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import pickle
import sys
from pathlib import Path

import bot
from bot.context import BotContext
from bot.stats import freezer_process, freezing
from bot.stats.officehours import OfficeHours
from bot.stats.periods import Period
from bot.store.stats import FrozenPeriod

log = logging.getLogger(__name__)

# How the child is started (tests start another one that dies).
FREEZER_COMMAND = (sys.executable, "-m", freezer_process.MODULE)
# A child that hands nothing back for this long is taken as hung (a stuck read, a deadlock):
# it is killed and the report fails, so the freeze lock is not held for good. A period of a
# million rows takes well under a minute here.
STALL_SECONDS = 1800.0
# The child imports ``bot`` from where this process did, whatever the working directory.
_ROOT = str(Path(bot.__file__).resolve().parent.parent)


class PeriodRunning(Exception):
    """The period is not over yet: there is no report for it."""

    def __init__(self, period: Period) -> None:
        super().__init__(period.label)
        self.period = period


class FreezeFailed(RuntimeError):
    """The process that counts a freeze ended without finishing; nothing was lost (what it
    handed back is stored, the rest is computed again next time)."""


def office_hours(ctx: BotContext) -> OfficeHours:
    return freezing.office_hours_of(ctx.settings.stats)


def is_over(ctx: BotContext, period: Period) -> bool:
    today = dt.datetime.fromtimestamp(ctx.clock(), office_hours(ctx).tz).date()
    return today >= period.end


async def frozen(ctx: BotContext, period: Period) -> FrozenPeriod:
    """The period's stored figures, computed and stored first if this is the first time."""
    (stored,) = await frozen_all(ctx, [period])
    return stored


async def frozen_all(ctx: BotContext, periods: list[Period]) -> list[FrozenPeriod]:
    """:func:`frozen` of several periods (a report and its trend), those not frozen yet
    computed in one go: one child process for all of them, not a start-up for each."""
    for period in periods:
        if not is_over(ctx, period):
            raise PeriodRunning(period)
    async with ctx.stats.freezing:
        missing = [p for p in periods if await ctx.stats.frozen(p.label) is None]
        if missing and ctx.freeze_in_child:
            await _in_child(ctx, missing)
        elif missing:
            counter = _counter(ctx)
            for period in missing:
                await freezing.get(counter, period, freezing.Source(counter))
        out = []
        for period in periods:
            stored = await ctx.stats.frozen(period.label)
            if stored is None:
                raise FreezeFailed(f"{period.label}: the freezing process did not hand it back")
            out.append(stored)
        return out


def _counter(ctx: BotContext) -> freezing.Counter:
    async def store(period: FrozenPeriod) -> None:
        await ctx.stats.freeze(period, int(ctx.clock() * 1000))

    return freezing.Counter(
        ctx.stats,
        freezing.CountingSettings.of(ctx.settings.stats),
        ctx.catalog,
        ctx.pseudonyms,
        ctx.subject(ctx.matrix.user_id),
        store,
    )


async def _in_child(ctx: BotContext, periods: list[Period]) -> None:
    """Count the freeze in a child process (:mod:`bot.stats.freezer_process`) and store what
    it hands back through the bot's one writer. The bot's interpreter only passes small
    pickles on: its event loop and memory stay as they were."""
    location = ctx.stats.db.location
    if location is None:
        raise FreezeFailed("the store has no location another process could open")
    labels = ", ".join(p.label for p in periods)
    job = freezer_process.Job(
        tuple(p.label for p in periods),
        location,
        freezing.CountingSettings.of(ctx.settings.stats),
        ctx.catalog,
        ctx.pseudonyms,
        ctx.subject(ctx.matrix.user_id),
        ctx.settings.log_level,
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")])))
    proc = await asyncio.create_subprocess_exec(
        *FREEZER_COMMAND, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(freezer_process.frame(job))
        while True:
            try:
                # Both under the limit: a child that reads nothing blocks the write once the
                # pipe is full (the job, with its catalog, is larger than a pipe's buffer).
                kind, value = await asyncio.wait_for(_exchange(proc.stdin, proc.stdout), STALL_SECONDS)
            except TimeoutError:
                raise FreezeFailed(f"the freezing process for {labels} did not answer; stopped") from None
            if kind == "freeze" and isinstance(value, FrozenPeriod):
                await ctx.stats.freeze(value, int(ctx.clock() * 1000))
                proc.stdin.write(freezer_process.frame("stored"))
            elif kind == "done" and isinstance(value, freezer_process.Done):
                log.info(
                    "froze %s in a separate process: %.1f s, its peak memory %d MiB",
                    labels,
                    value.seconds,
                    value.peak_kib // 1024,
                )
                break
            else:
                raise FreezeFailed(f"freezing {labels} failed in its process ({value})")
        proc.stdin.close()
        code = await proc.wait()
        if code != 0:
            raise FreezeFailed(f"the freezing process for {labels} exited with {code}")
    except (asyncio.IncompleteReadError, ConnectionError):
        code = await proc.wait()
        raise FreezeFailed(f"the freezing process for {labels} ended early (exit {code})") from None
    finally:
        if proc.returncode is None:  # cancelled (the bot stops), or an error on this side
            proc.kill()
            await proc.wait()


async def _exchange(inbox: asyncio.StreamWriter, outbox: asyncio.StreamReader) -> tuple[str, object]:
    await inbox.drain()
    return await _receive(outbox)


async def _receive(stream: asyncio.StreamReader) -> tuple[str, object]:
    (size,) = freezer_process.LENGTH.unpack(await stream.readexactly(freezer_process.LENGTH.size))
    data = await stream.readexactly(size)
    try:
        message = pickle.loads(data)  # noqa: S301 - our own child process
    except Exception as exc:  # a child of another version, say: its answer is no answer
        raise FreezeFailed(f"the freezing process sent what this one cannot read ({exc})") from None
    if not (isinstance(message, tuple) and len(message) == 2 and isinstance(message[0], str)):
        raise FreezeFailed("the freezing process sent something else")
    return message[0], message[1]


async def freeze_due(ctx: BotContext) -> None:
    """Freeze the last week and month that are over, so that an erasure after their end
    changes nothing even if nobody asked for a report yet."""
    today = dt.datetime.fromtimestamp(ctx.clock(), office_hours(ctx).tz).date()
    from bot.stats.periods import period_containing

    for kind in ("week", "month"):
        await frozen(ctx, period_containing(today, kind).previous())
