"""The retention report: the proof an auditor or data-protection officer asks for.

Per room kind: how many rooms, which policy, the oldest message still there against what the
policy allows, what was removed in the period, and failures. Built from Lotse's own records;
no message content, no person.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from bot.context import BotContext
from bot.retention.policy import format_duration
from bot.retention.sweeper import now_ms, plan


@dataclass
class KindLine:
    kind: str
    rooms: int = 0
    policies: set[str] = field(default_factory=set)
    oldest_age: dt.timedelta | None = None
    allowed: dt.timedelta | None = None
    held: int = 0
    unmanaged: int = 0
    redacted: int = 0
    media: int = 0
    failures: int = 0

    @property
    def overdue(self) -> bool:
        return self.oldest_age is not None and self.allowed is not None and self.oldest_age > self.allowed


@dataclass
class Report:
    days: int
    runs: int
    lines: list[KindLine]


async def build(ctx: BotContext, days: int = 30) -> Report:
    at = now_ms(ctx)
    since = at - days * 86_400_000
    by_kind: dict[str, KindLine] = {}
    for p in await plan(ctx):
        line = by_kind.setdefault(p.kind, KindLine(p.kind))
        line.rooms += 1
        policy = p.resolution.policy
        if policy is None:
            line.unmanaged += 1
            continue
        line.policies.add(policy.name)
        if p.held_until is not None:
            line.held += 1
            continue
        oldest = await ctx.retention.oldest_surviving(p.room_id)
        if oldest is not None:
            age = dt.timedelta(milliseconds=at - oldest)
            # Per kind, show the room that is furthest past (or least within) its policy.
            worst = line.oldest_age - line.allowed if line.oldest_age and line.allowed else None
            if worst is None or age - policy.message_lifetime > worst:
                line.oldest_age, line.allowed = age, policy.message_lifetime
        elif line.allowed is None:
            line.allowed = policy.message_lifetime
    for row in await ctx.retention.results_since(since):
        line = by_kind.setdefault(row["room_kind"], KindLine(row["room_kind"]))
        line.redacted, line.media, line.failures = (
            int(row["redacted"]),
            int(row["media"]),
            int(row["failures"]),
        )
    runs = len(await ctx.retention.runs_since(since))
    return Report(days, runs, sorted(by_kind.values(), key=lambda line: line.kind))


def _age(ctx: BotContext, language: str, value: dt.timedelta | None) -> str:
    if value is None:
        return "–"
    if value >= dt.timedelta(days=2):
        return ctx.catalog.text(language, "period.days", n=str(value.days))
    if value >= dt.timedelta(hours=2):
        return ctx.catalog.text(language, "period.hours", n=str(int(value.total_seconds() // 3600)))
    return ctx.catalog.text(language, "period.seconds", n=str(int(value.total_seconds())))


def render(ctx: BotContext, report: Report, language: str) -> str:
    t = ctx.catalog.text
    out = [t(language, "report.title", days=str(report.days), runs=str(report.runs))]
    for line in report.lines:
        out.append("")
        out.append(
            t(
                language,
                "report.kind",
                kind=t(language, f"kind.{line.kind}"),
                rooms=str(line.rooms),
                policies=", ".join(sorted(line.policies)) or "–",
            )
        )
        out.append(
            t(
                language,
                "report.oldest",
                oldest=_age(ctx, language, line.oldest_age),
                allowed=format_duration(line.allowed) if line.allowed else "–",
            )
            + (" ⚠ " + t(language, "report.overdue") if line.overdue else "")
        )
        out.append(
            t(
                language,
                "report.removed",
                redacted=str(line.redacted),
                media=str(line.media),
                failures=str(line.failures),
            )
        )
        if line.held:
            out.append(t(language, "report.held", n=str(line.held)))
        if line.unmanaged:
            out.append(t(language, "report.unmanaged", n=str(line.unmanaged)))
    return "\n".join(out)
