"""Suppression that holds across published figures that add up to each other.

Two kinds of sums are published: a period's organisation figure is the sum of its team rows,
and a reporting month is the sum of its weeks (:mod:`bot.stats.periods`: months are whole ISO
weeks). Together these sets nest: any two are disjoint or one contains the other. For such a
family, what anyone can work out by adding and subtracting published figures is a sum of
*remainders*, a shown figure minus the shown figures right below it. If every remainder comes
from no one or from at least ``k`` people, so does every sum of them, and a hidden figure
(fewer than ``k`` people) cannot be one of them.

So the rule, per additive column: the hidden parts of a published total must together come
from nobody or from at least ``k`` people. Parts that are published together with their total
(team rows) get more parts hidden until that holds (the smallest first); a total published
after its parts were frozen (a month after its weeks) is hidden itself.

Non-additive figures (distinct rooms, medians) are not sums and give no such equation; shares
are hidden together with the counts they are shares of (:data:`bot.stats.aggregate.GROUPS`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, MutableSet, Sequence

from bot.stats.aggregate import GROUPS, Figure

# Figures that add up over weeks (a month's value is the sum of its weeks').
ADDITIVE_OVER_TIME = (
    "messages_clients",
    "messages_workers",
    "client_contacts",
    "new_clients",
    "consent_asked",
    "consent_given",
    "consent_declined",
    "consent_withdrawn",
    "access_requests",
    "erasure_requests",
    "retention_removed",
    "retention_media",
    "retention_failures",
)
# Figures that add up over the team rows of one period (rooms belong to one team each).
ADDITIVE_OVER_TEAMS = ("active_rooms", "messages_clients", "messages_workers", "client_contacts")


def close_groups(hidden: MutableSet[str], present: Collection[str]) -> None:
    """Complementary suppression: a group of related figures is hidden together."""
    changed = True
    while changed:
        changed = False
        for group in GROUPS:
            members = group & set(present)
            if members & hidden and not members <= hidden:
                hidden |= members
                changed = True


def _unsafe(persons: Iterable[frozenset[str]], amounts: Iterable[float], k: int) -> bool:
    """Whether hidden figures, taken together, would reveal something about fewer than k
    people. Nothing to reveal needs both no people and nothing counted: people erased since
    their figures were frozen still stand behind the frozen amounts."""
    together: set[str] = set()
    for p in persons:
        together |= p
    return len(together) < k and (len(together) > 0 or any(a != 0 for a in amounts))


def protect_parts(
    parts: Sequence[Mapping[str, Figure]],
    hidden: Sequence[MutableSet[str]],
    keys: Iterable[str],
    k: int,
) -> None:
    """Parts published beside their total: hide further parts (the one computed from the
    fewest people first) until each column's hidden parts come from 0 or ≥ k people.

    ``hidden[i]`` holds the hidden figure keys of ``parts[i]`` and is extended in place. When
    every part of a column ends up hidden, they come from everybody in the total, which is
    shown only with ≥ k people (and hidden otherwise): no further step is needed.
    """
    for key in keys:
        while True:
            hidden_parts = [i for i, h in enumerate(hidden) if key in h]
            if not _unsafe(
                (parts[i][key].persons for i in hidden_parts),
                (parts[i][key].value or 0.0 for i in hidden_parts),
                k,
            ):
                break
            shown = [
                i
                for i, h in enumerate(hidden)
                if key not in h and key in parts[i] and parts[i][key].value is not None
            ]
            if not shown:
                break
            pick = min(shown, key=lambda i: (len(parts[i][key].persons), parts[i][key].value or 0.0, i))
            hidden[pick].add(key)
    for i, h in enumerate(hidden):
        close_groups(h, parts[i].keys())


def protect_total(
    hidden: MutableSet[str],
    hidden_parts_persons: Mapping[str, Sequence[frozenset[str]]],
    hidden_parts_amounts: Mapping[str, Sequence[float]],
    present: Collection[str],
    k: int,
) -> None:
    """A total published after its parts: hide each figure whose already hidden parts
    together come from fewer than k people (the total minus the shown parts would be theirs)."""
    for key, persons in hidden_parts_persons.items():
        if key not in hidden and _unsafe(persons, hidden_parts_amounts.get(key, ()), k):
            hidden.add(key)
    close_groups(hidden, present)
