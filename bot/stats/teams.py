"""Per-team figures that cannot single anyone out.

A team is a team room: a consultation belongs to the team room where its intake was started
or claimed. A team gets a row of its own only when at least ``k`` workers and ``k`` clients of
it were active in the period; all other teams are merged into "other teams".

Each cell then follows the same rules as the organisation's figures (fewer than ``k`` people:
hidden). Because the rows add up to the organisation's total, a column with exactly one hidden
cell would give that cell away (total minus the shown rows). So in such a column the smallest
shown count is hidden as well (secondary suppression): a column has no hidden cell or at least
two, and no hidden value can be worked out from the totals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from bot.stats.aggregate import Activity, figures
from bot.stats.anonymize import Cell, anonymize
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
ADDITIVE = ("active_rooms", "messages_clients", "messages_workers", "client_contacts")


def _subset(activity: Activity, teams: set[str | None]) -> Activity:
    return Activity(
        [m for m in activity.messages if m.team in teams],
        [c for c in activity.consents if c.team in teams],
        (),
        (),
    )


def team_rows(
    activity: Activity,
    lo_ms: int,
    hi_ms: int,
    hours: OfficeHours,
    target: dt.timedelta,
    k: int,
    labels: Mapping[str, str],
) -> list[tuple[str, dict[str, Cell]]]:
    """Rows (team label or OTHER, cells); empty when there is only one team or none."""
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
    # Labels come from the caller (configured names or "Team 1"): never a room ID.
    groups: list[tuple[str, set[str | None]]] = [(labels.get(t, "Team"), {t}) for t in eligible]
    rest = {t for t in teams if t not in eligible} | {None}
    groups.append((OTHER, rest))
    rows: list[tuple[str, dict[str, Cell]]] = []
    for label, members in groups:
        figs = figures(_subset(activity, members), lo_ms, hi_ms, hours, target)
        cells = anonymize({key: figs[key] for key in TEAM_FIGURES}, k)
        rows.append((label, cells))
    _secondary_suppression(rows)
    return rows


def _secondary_suppression(rows: list[tuple[str, dict[str, Cell]]]) -> None:
    for key in ADDITIVE:
        hidden = [cells for _, cells in rows if cells[key].suppressed]
        if len(hidden) != 1:
            continue
        shown = [cells for _, cells in rows if not cells[key].suppressed and cells[key].value is not None]
        if shown:  # counts always have a value; with two or more rows one is shown
            smallest = min(shown, key=lambda cells: cells[key].value or 0.0)
            smallest[key] = Cell(key, None, True, smallest[key].unit)
