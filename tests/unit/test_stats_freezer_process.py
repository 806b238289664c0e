"""The bot counts a period's first freeze in a child process (issue #15.5/#15.1).

The child reads the store on its own read-only connection and hands each period back to the
bot's writer. These tests pin down that this changes nothing a report shows (the same frozen
periods as counting in-process, on either store backend), that nothing is counted in the bot's
own process, and that a child that dies or cannot read the store is a failed report (the admin
is told) that loses nothing: what the child handed back stays, the rest is counted next time.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.context import BotContext
from bot.ids import RoomID
from bot.stats import freezing, rollup
from bot.stats.periods import parse_period
from bot.store.db import Database, StoreLocation
from bot.store.stats import FrozenPeriod
from tests.support import make_context
from tests.unit.stats_fixture import ROOMS, fill
from tests.unit.test_stats_delivery import ADMIN, ADMIN_ROOM, LEAD, WORKER, report_done

MONTH = parse_period("2026-11")  # weeks 45 to 48, W45-W47 filled by the fixture
TEAM2 = RoomID("!team2:example.org")


@pytest.fixture
async def filled(tmp_path: Path) -> AsyncIterator[tuple[BotContext, Database]]:
    ctx, _, db = await make_context(
        tmp_path,
        admins=[ADMIN],
        workers=[WORKER],
        rooms={"leadership": LEAD, "admin": ADMIN_ROOM},
        stats={"k": 3},
    )
    await fill(ctx)
    # Half the consultations in a second team: two teams, so the weeks count team rows.
    await ctx.state.set_room_kind(TEAM2, "team")
    await db.write(
        "UPDATE intake SET notify_room = ? WHERE consultation_room IN (?, ?, ?, ?)", (TEAM2, *ROOMS[:4])
    )
    try:
        yield ctx, db
    finally:
        await db.close()


async def _stored(ctx: BotContext) -> list[FrozenPeriod | None]:
    return [await ctx.stats.frozen(p.label) for p in (*MONTH.weeks, MONTH)]


async def _forget_frozen(db: Database) -> None:
    await db.write_atomic([("DELETE FROM stats_cell", ()), ("DELETE FROM stats_period", ())])


def _not_here(*args: object, **kw: object) -> object:
    raise AssertionError("counted in the bot's own process")


async def test_the_child_process_freezes_exactly_what_the_bot_would(
    filled: tuple[BotContext, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, db = filled
    in_process = await rollup.frozen(ctx, MONTH)
    expected = await _stored(ctx)
    assert all(expected)
    await _forget_frozen(db)
    assert await ctx.stats.frozen(MONTH.label) is None

    ctx.freeze_in_child = True
    monkeypatch.setattr(freezing, "figures", _not_here)
    monkeypatch.setattr(freezing, "team_rows", _not_here)
    assert await rollup.frozen(ctx, MONTH) == in_process
    assert await _stored(ctx) == expected


async def test_a_child_that_dies_fails_the_report_and_loses_nothing(
    filled: tuple[BotContext, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after it handed back its first week: the command says the report failed, the
    week stays stored, and the next report freezes the rest (the same as in-process)."""
    ctx, db = filled
    expected = [await rollup.frozen(ctx, MONTH), *await _stored(ctx)]
    await _forget_frozen(db)
    ctx.freeze_in_child = True

    children: list[asyncio.subprocess.Process] = []
    start = asyncio.create_subprocess_exec

    async def watched(*args: Any, **kw: Any) -> asyncio.subprocess.Process:
        children.append(await start(*args, **kw))
        return children[-1]

    store = ctx.stats.freeze

    async def store_then_kill(period: FrozenPeriod, at_ms: int) -> None:
        await store(period, at_ms)
        children[-1].send_signal(signal.SIGKILL)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", watched)
    monkeypatch.setattr(ctx.stats, "freeze", store_then_kill)
    assert await report_done(ctx, f"!statistik {MONTH.label}") == ctx.catalog.text(
        "de", "stats.failed", period=MONTH.label
    )
    assert children and children[-1].returncode == -signal.SIGKILL
    stored = await _stored(ctx)
    assert stored[0] == expected[1] and stored[1:] == [None] * len(MONTH.weeks)

    monkeypatch.setattr(ctx.stats, "freeze", store)
    assert [await rollup.frozen(ctx, MONTH), *await _stored(ctx)] == expected


async def test_a_child_that_exits_at_once_is_a_failure(
    filled: tuple[BotContext, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, _ = filled
    ctx.freeze_in_child = True
    monkeypatch.setattr(rollup, "FREEZER_COMMAND", (sys.executable, "-c", "raise SystemExit(3)"))
    with pytest.raises(rollup.FreezeFailed, match="exit 3"):
        await rollup.frozen(ctx, MONTH)
    assert not ctx.stats.freezing.locked()
    assert await _stored(ctx) == [None] * (len(MONTH.weeks) + 1)


HANGS = {
    # reads nothing: the bot's write of the job blocks once the pipe is full
    "reading nothing": "import time; time.sleep(600)",
    # reads the job, then answers nothing
    "answering nothing": (
        "import struct, sys, time; n, = struct.unpack('>I', sys.stdin.buffer.read(4)); "
        "sys.stdin.buffer.read(n); time.sleep(600)"
    ),
}


@pytest.mark.parametrize("child", HANGS.values(), ids=HANGS.keys())
async def test_a_child_that_hangs_is_stopped_and_fails_the_report(
    filled: tuple[BotContext, Database], monkeypatch: pytest.MonkeyPatch, child: str
) -> None:
    ctx, _ = filled
    ctx.freeze_in_child = True
    started: list[asyncio.subprocess.Process] = []
    spawn = asyncio.create_subprocess_exec

    async def watched(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        proc = await spawn(*args, **kwargs)
        started.append(proc)
        return proc

    monkeypatch.setattr(asyncio, "create_subprocess_exec", watched)
    monkeypatch.setattr(rollup, "FREEZER_COMMAND", (sys.executable, "-c", child))
    monkeypatch.setattr(rollup, "STALL_SECONDS", 1.0)
    with pytest.raises(rollup.FreezeFailed, match="did not answer"):
        await rollup.frozen(ctx, MONTH)
    assert started and started[0].returncode is not None  # killed, not left behind
    assert not ctx.stats.freezing.locked()


async def test_a_store_the_child_cannot_read_fails_the_report(
    filled: tuple[BotContext, Database], tmp_path: Path
) -> None:
    ctx, db = filled
    ctx.freeze_in_child = True
    db.location = StoreLocation(path=tmp_path / "missing" / "lotse.db")
    assert await report_done(ctx, f"!statistik {MONTH.label}") == ctx.catalog.text(
        "de", "stats.failed", period=MONTH.label
    )
    assert not (tmp_path / "missing").exists()  # the reader creates nothing
    assert await _stored(ctx) == [None] * (len(MONTH.weeks) + 1)


async def test_a_report_freezes_its_period_and_trend_in_one_child_process(
    filled: tuple[BotContext, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a process start-up for each of the trend's twelve periods."""
    from bot.stats import report as stats_report

    ctx, _ = filled
    ctx.freeze_in_child = True
    started: list[tuple[Any, ...]] = []
    start = asyncio.create_subprocess_exec

    async def counted(*args: Any, **kw: Any) -> asyncio.subprocess.Process:
        started.append(args)
        return await start(*args, **kw)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", counted)
    report = await stats_report.build(ctx, MONTH)
    assert len(started) == 1
    trend = MONTH.trend(ctx.settings.stats.periods_in_trend)
    assert [label for label, _ in report.trend] == [p.label for p in trend]
    for period in trend:
        assert await ctx.stats.frozen(period.label) is not None
    await stats_report.build(ctx, MONTH)  # all frozen now: no process at all
    assert len(started) == 1
