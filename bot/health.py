"""What ``/health`` says: is the bot doing its work?

Four checks, each with the figures behind it, none naming a person or a room:

- **sync**: the sync loop runs and a sync completed recently (a homeserver that is down, or a
  loop that hangs, shows here after ``[health] sync_stale_seconds``);
- **store**: a write to the database commits (a full disk, a locked or broken file);
- **sweep**: a retention sweep finished within two sweep intervals (plus ten minutes) of the
  last one or of the start; a sweep that stops (policies broken, clock ahead) shows here;
- **report**: when the leadership report is configured, the last week's report went out
  (at most two hours after it was due, or after a start that came later).

The whole is healthy when every check is; the HTTP status says so (200 or 503).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from bot.context import BotContext

STORE_TIMEOUT_S = 5.0
SWEEP_SLACK_S = 600.0
REPORT_GRACE_S = 2 * 3600.0
PROBE_KEY = "health_checked_at"


@dataclass(frozen=True)
class SyncState:
    running: bool
    last_sync_age_s: float


async def check_store(ctx: BotContext) -> dict[str, Any]:
    held = ctx.consent.db.trouble
    if held is not None:  # writes are held until the store takes them again (bot/store/db.py)
        return {"ok": False, "error": "unwritable", "reason": held}
    try:
        await asyncio.wait_for(ctx.state.put(PROBE_KEY, str(int(ctx.clock() * 1000))), STORE_TIMEOUT_S)
    except Exception as exc:  # a full disk, a locked file, a writer that hangs
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


async def check_sweep(ctx: BotContext) -> dict[str, Any]:
    interval = ctx.settings.retention.sweep_minutes * 60
    allowed = 2 * interval + SWEEP_SLACK_S
    last_ms = await ctx.retention.last_finished_run_ms()
    now = ctx.clock()
    reference = max(ctx.started_at, last_ms / 1000 if last_ms is not None else 0.0)
    return {
        "ok": now - reference <= allowed,
        "last_sweep_age_seconds": None if last_ms is None else round(now - last_ms / 1000, 1),
        "allowed_seconds": allowed,
    }


def report_due(
    now_local: dt.datetime, weekday: int, at: dt.time, last_label: str | None, started_at: float
) -> tuple[str, bool]:
    """The period whose report should be out by now, and whether it is overdue."""
    from bot.stats.delivery import due_period

    expected = due_period(now_local, weekday, at, None)
    assert expected is not None  # with no period delivered, one is always due
    send_at = dt.datetime.combine(expected.end + dt.timedelta(days=weekday), at, now_local.tzinfo)
    deadline = max(send_at.timestamp(), started_at) + REPORT_GRACE_S
    overdue = last_label != expected.label and now_local.timestamp() > deadline
    return expected.label, overdue


async def check_report(ctx: BotContext) -> dict[str, Any]:
    from bot.stats.delivery import LAST

    configured = ctx.room_of_kind("leadership") is not None or (
        getattr(ctx.settings, "report_mail", None) is not None
    )
    last = await ctx.state.get(LAST)
    if not configured:
        return {"ok": True, "configured": False, "last_period": last}
    s = ctx.settings.stats
    now_local = dt.datetime.fromtimestamp(ctx.clock(), ZoneInfo(s.timezone))
    expected, overdue = report_due(
        now_local, s.report_weekday, dt.time.fromisoformat(s.report_time), last, ctx.started_at
    )
    return {
        "ok": not overdue,
        "configured": True,
        "last_period": last,
        "expected_period": expected,
    }


async def health(ctx: BotContext, sync: SyncState) -> dict[str, Any]:
    stale = ctx.settings.health.sync_stale_seconds
    checks: dict[str, dict[str, Any]] = {
        "sync": {
            "ok": sync.running and sync.last_sync_age_s <= stale,
            "running": sync.running,
            "last_sync_age_seconds": round(sync.last_sync_age_s, 1),
        },
        "store": await check_store(ctx),
        "sweep": await check_sweep(ctx),
        "report": await check_report(ctx),
    }
    healthy = all(check["ok"] for check in checks.values())
    return {"status": "ok" if healthy else "failing", "checks": checks}
