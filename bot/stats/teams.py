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
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from bot.stats.aggregate import Activity, ConsentEvent, Figure, Message, Turn, figures, turns_of
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


def _of_teams(
    by_team: Mapping[str | None, list[Message]],
    consents: Mapping[str | None, list[ConsentEvent]],
    teams: set[str | None],
) -> Activity:
    """:func:`_subset` from messages sorted by team already. Messages keep their order within
    each room (a room belongs to one team), which is all the figures depend on."""
    return Activity(
        [m for t in teams for m in by_team.get(t, ())],
        [c for t in teams for c in consents.get(t, ())],
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
    teams: Collection[str] | None = None,
    turns: Sequence[Turn] | None = None,
) -> list[TeamRow]:
    """Rows (team label or OTHER); empty when there is only one team or none. ``teams``: the
    teams of the activity when its messages were cut short (:func:`~bot.stats.aggregate.until_answered`);
    ``turns``: the organisation's contacts in the period (:func:`~bot.stats.aggregate.turns_of`)."""
    k = max(k, 3)
    # One pass to sort the messages by team (a month has a million), not two per team.
    by_team: dict[str | None, list[Message]] = {}
    people: dict[tuple[str | None, str], set[str]] = {}
    for m in activity.messages:
        by_team.setdefault(m.team, []).append(m)
        if lo_ms <= m.ts_ms < hi_ms:
            people.setdefault((m.team, m.role), set()).add(m.sender)
    teams = sorted({t for t in by_team if t is not None} if teams is None else set(teams))
    if len(teams) < 2:
        return []  # one team is the organisation: nothing to break down
    eligible = [
        t
        for t in teams
        if len(people.get((t, "worker"), ())) >= k and len(people.get((t, "client"), ())) >= k
    ]
    if not eligible:
        return []  # "other teams" alone would just repeat the organisation's figures
    consents: dict[str | None, list[ConsentEvent]] = {}
    for c in activity.consents:
        consents.setdefault(c.team, []).append(c)
    groups: list[tuple[str, set[str | None]]] = [(labels.get(t, "Team"), {t}) for t in eligible]
    groups.append((OTHER, {t for t in teams if t not in eligible} | {None}))
    if turns is None:
        turns = turns_of(activity, lo_ms, hi_ms, hours)
    team_turns: dict[str | None, list[Turn]] = {}
    for turn in turns:
        team_turns.setdefault(turn.contact.team, []).append(turn)
    parts = []
    for _, members in groups:
        mine = [turn for t in members for turn in team_turns.get(t, ())]
        figs = figures(_of_teams(by_team, consents, members), lo_ms, hi_ms, hours, target, mine)
        parts.append({key: figs[key] for key in TEAM_FIGURES})
    hidden = [below_threshold(p, k) for p in parts]
    protect_parts(parts, hidden, ADDITIVE, k)
    return [
        TeamRow(label, p, cells_of(p, h, noise))
        for (label, _), p, h in zip(groups, parts, hidden, strict=True)
    ]
