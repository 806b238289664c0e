"""Per-team figures that cannot single anyone out.

A team is a team room: a consultation belongs to the team room where its intake was started
or claimed. A team gets a row of its own only when at least ``k`` workers and ``k`` clients of
it were active in the period; all other teams are merged into "other teams".

Each cell then follows the same rules as the organisation's figures (fewer than ``k`` people:
hidden). Because the rows add up to the organisation's total, the hidden cells of a column
together must come from nobody or from at least ``k`` people, or the total minus the shown rows
would give them away: :func:`bot.stats.hierarchy.protect_parts` hides further cells until that
holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.stats.aggregate import Activity, Figure, figures
from bot.stats.anonymize import Cell, below_threshold, cells_of
from bot.stats.hierarchy import ADDITIVE_OVER_TEAMS, protect_parts
from bot.stats.officehours import OfficeHours

OTHER = "other"
# What leadership sees per team: enough to compare, nothing about a person.
TEAM_FIGURES = (
    "active_rooms",
    "messages_clients",
    "messages_workers",
    "client_contacts",
    "answered_in_target",
)
ADDITIVE = ADDITIVE_OVER_TEAMS


def _subset(activity: Activity, teams: set[str | None]) -> Activity:
    return Activity(
        [m for m in activity.messages if m.team in teams],
        [c for c in activity.consents if c.team in teams],
        (),
        (),
    )


@dataclass(frozen=True)
class TeamRow:
    label: str  # a configured name, "Team 1", or OTHER: never a room ID
    figures: dict[str, Figure]
    cells: dict[str, Cell]


def team_rows(
    activity: Activity,
    lo_ms: int,
    hi_ms: int,
    hours: OfficeHours,
    target: dt.timedelta,
    k: int,
    labels: Mapping[str, str],
    noise: Callable[[int], int] | None = None,
) -> list[TeamRow]:
    """Rows (team label or OTHER); empty when there is only one team or none."""
    k = max(k, 3)
    in_period = [m for m in activity.messages if lo_ms <= m.ts_ms < hi_ms]
    teams = sorted({m.team for m in activity.messages if m.team is not None})
    if len(teams) < 2:
        return []  # one team is the organisation: nothing to break down
    eligible = [
        t
        for t in teams
        if len({m.sender for m in in_period if m.team == t and m.role == "worker"}) >= k
        and len({m.sender for m in in_period if m.team == t and m.role == "client"}) >= k
    ]
    if not eligible:
        return []  # "other teams" alone would just repeat the organisation's figures
    groups: list[tuple[str, set[str | None]]] = [(labels.get(t, "Team"), {t}) for t in eligible]
    groups.append((OTHER, {t for t in teams if t not in eligible} | {None}))
    parts = []
    for _, members in groups:
        figs = figures(_subset(activity, members), lo_ms, hi_ms, hours, target)
        parts.append({key: figs[key] for key in TEAM_FIGURES})
    hidden = [below_threshold(p, k) for p in parts]
    protect_parts(parts, hidden, ADDITIVE, k)
    return [
        TeamRow(label, p, cells_of(p, h, noise))
        for (label, _), p, h in zip(groups, parts, hidden, strict=True)
    ]
