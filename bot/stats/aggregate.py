"""From activity (metadata only) to the figures of one period, each with the people behind it.

Every figure carries the set of (period-rotated) pseudonyms it was computed from, so that the
anonymity rules in :mod:`bot.stats.anonymize` can decide whether it may be shown. There is no
dimension below the organisation: no figure is about one worker or one room.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from bot.stats.officehours import OfficeHours


class Message(NamedTuple):
    """A tuple, not a dataclass: a month holds up to a million of them, and a tuple is made
    in a third of the time and takes half the memory."""

    room: str
    sender: str
    role: str  # client | worker
    ts_ms: int
    team: str | None = None  # the team room the consultation belongs to, if any


@dataclass(frozen=True)
class ConsentEvent:
    subject: str
    decision: str  # asked (the consent question was shown) | given | declined | withdrawn
    ts_ms: int
    first: bool = False  # the subject's first consent ever: a new client
    team: str | None = None
    # A withdrawal is honoured when the client's counselling room is closed for new messages:
    # when the bot's closing notice went into it (the withdrawal's own time if there was no
    # room to close); None while it is not seen closed.
    closed_ms: int | None = None


@dataclass(frozen=True)
class RightsRequest:
    kind: str  # access | erasure
    subject: str
    requested_ms: int
    served_ms: int | None


@dataclass(frozen=True)
class RetentionRun:
    ts_ms: int
    redacted: int
    media: int
    failures: int


@dataclass(frozen=True)
class Activity:
    messages: Sequence[Message] = ()
    consents: Sequence[ConsentEvent] = ()
    rights: Sequence[RightsRequest] = ()
    retention: Sequence[RetentionRun] = ()


@dataclass(frozen=True)
class Figure:
    key: str
    value: float | None
    persons: frozenset[str] = field(default=frozenset())
    # Figures about the system (deletions), not about people, need no threshold.
    about_people: bool = True
    unit: str = "count"  # count | percent | minutes


# Figures that add up to, or are derived from, each other: if one is hidden, all are
# (complementary suppression), so a hidden one cannot be worked out from the others.
GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"consent_given", "consent_declined", "consent_rate"}),
    frozenset({"client_contacts", "answered_in_target", "after_hours"}),
    frozenset({"consent_withdrawn", "withdrawal_honoured", "withdrawal_minutes"}),
)

FIGURES = (
    "active_rooms",
    "active_clients",
    "new_clients",
    "messages_clients",
    "messages_workers",
    "client_contacts",
    "answered_in_target",
    "median_first_answer",
    "after_hours",
    "consent_asked",
    "consent_given",
    "consent_declined",
    "consent_withdrawn",
    "withdrawal_honoured",
    "withdrawal_minutes",
    "consent_rate",
    "access_requests",
    "erasure_requests",
    "rights_turnaround",
    "retention_removed",
    "retention_media",
    "retention_failures",
)


# The unit of each figure (what a spreadsheet column holds).
FIGURE_UNITS = {key: "count" for key in FIGURES} | {
    "answered_in_target": "percent",
    "after_hours": "percent",
    "consent_rate": "percent",
    "withdrawal_honoured": "percent",
    "median_first_answer": "minutes",
    "withdrawal_minutes": "minutes",
    "rights_turnaround": "minutes",
}


def _in(ts: int, lo: int, hi: int) -> bool:
    return lo <= ts < hi


def contacts(messages: Iterable[Message]) -> list[tuple[Message, Message | None]]:
    """Client turns and their first answer: a client message after a worker's (or the
    room's first), paired with the next worker message in that room, if any."""
    by_room: dict[str, list[Message]] = {}
    for m in sorted(messages, key=lambda m: m.ts_ms):
        by_room.setdefault(m.room, []).append(m)
    pairs: list[tuple[Message, Message | None]] = []
    for room_messages in by_room.values():
        waiting: Message | None = None
        for m in room_messages:
            if m.role == "client" and waiting is None:
                waiting = m
            elif m.role == "worker" and waiting is not None:
                pairs.append((waiting, m))
                waiting = None
        if waiting is not None:
            pairs.append((waiting, None))
    return pairs


def until_answered(messages: Sequence[Message], hi_ms: int) -> list[Message]:
    """The messages that decide the contacts started before ``hi_ms``: all before it, and after
    it only each room's first worker message (the answer to a contact still waiting). A turn's
    start depends only on earlier messages, and its answer is the next worker message in the
    room; so :func:`contacts` pairs these exactly as it pairs all of them, for the contacts
    started before ``hi_ms``, with a fraction of the work (a week reads a week further)."""
    first_after: dict[str, Message] = {}
    for m in messages:
        if m.ts_ms >= hi_ms and m.role == "worker":
            seen = first_after.get(m.room)
            if seen is None or m.ts_ms < seen.ts_ms:  # ties: the first in order, as a stable sort
                first_after[m.room] = m
    keep = {id(m) for m in first_after.values()}
    return [m for m in messages if m.ts_ms < hi_ms or id(m) in keep]


class Turn(NamedTuple):
    """A contact started in a period, its first answer (if any), the office time it waited
    and whether it came outside office hours."""

    contact: Message
    answer: Message | None
    wait: dt.timedelta | None
    after_hours: bool


def turns_of(activity: Activity, lo_ms: int, hi_ms: int, hours: OfficeHours) -> list[Turn]:
    """The contacts started in ``[lo_ms, hi_ms)``. Worked out once per period: a team's are
    the organisation's in its rooms (a room belongs to one team), so the team rows pick theirs
    from these instead of pairing and timing them again."""
    return [
        Turn(c, a, None if a is None else hours.between_ms(c.ts_ms, a.ts_ms), not hours.is_open_ms(c.ts_ms))
        for c, a in contacts(until_answered(activity.messages, hi_ms))
        if lo_ms <= c.ts_ms < hi_ms
    ]


def figures(
    activity: Activity,
    lo_ms: int,
    hi_ms: int,
    hours: OfficeHours,
    target: dt.timedelta,
    turns: Sequence[Turn] | None = None,
) -> dict[str, Figure]:
    """``turns``: :func:`turns_of` for this activity and period, when the caller has them."""
    # One pass, no copies: a month has a million messages.
    rooms: set[str] = set()
    clients: set[str] = set()
    workers: set[str] = set()
    others: set[str] = set()
    from_clients = from_workers = 0
    for m in activity.messages:
        if lo_ms <= m.ts_ms < hi_ms:
            rooms.add(m.room)
            if m.role == "client":
                clients.add(m.sender)
                from_clients += 1
            elif m.role == "worker":
                workers.add(m.sender)
                from_workers += 1
            else:
                others.add(m.sender)
    out: dict[str, Figure] = {}

    def put(key: str, value: float | None, persons: Iterable[str] = (), **kw: object) -> None:
        out[key] = Figure(key, value, frozenset(persons), **kw)  # type: ignore[arg-type]

    put("active_rooms", len(rooms), clients | workers | others)
    put("active_clients", len(clients), clients)
    put("messages_clients", from_clients, clients)
    put("messages_workers", from_workers, workers)

    # Contacts that started in this period; answers may come later (up to the period's end).
    if turns is None:
        turns = turns_of(activity, lo_ms, hi_ms, hours)
    turn_people = {t.contact.sender for t in turns} | {t.answer.sender for t in turns if t.answer is not None}
    put("client_contacts", len(turns), turn_people)
    # An answer after the period's end still counts for a contact made in it (the caller reads
    # a week further): a Friday-evening request answered on Monday was answered in time.
    answered = [t for t in turns if t.answer is not None]
    waits = [t.wait for t in answered if t.wait is not None]
    answered_people = {t.contact.sender for t in answered} | {
        t.answer.sender for t in answered if t.answer is not None
    }
    in_target = sum(1 for w in waits if w <= target)
    put("answered_in_target", 100.0 * in_target / len(turns) if turns else None, turn_people, unit="percent")
    put(
        "median_first_answer",
        statistics.median(w.total_seconds() / 60 for w in waits) if waits else None,
        answered_people,
        unit="minutes",
    )
    after = sum(1 for t in turns if t.after_hours)
    put(
        "after_hours",
        100.0 * after / len(turns) if turns else None,
        {t.contact.sender for t in turns},
        unit="percent",
    )

    consents = [c for c in activity.consents if _in(c.ts_ms, lo_ms, hi_ms)]
    for decision in ("asked", "given", "declined", "withdrawn"):
        chosen = [c for c in consents if c.decision == decision]
        put(f"consent_{decision}", len(chosen), {c.subject for c in chosen})
    withdrawals = [c for c in consents if c.decision == "withdrawn"]
    closed = [c for c in withdrawals if c.closed_ms is not None]
    put(
        "withdrawal_honoured",
        100.0 * len(closed) / len(withdrawals) if withdrawals else None,
        {c.subject for c in withdrawals},
        unit="percent",
    )
    put(
        "withdrawal_minutes",
        statistics.median(max(0, (c.closed_ms or c.ts_ms) - c.ts_ms) / 60000 for c in closed)
        if closed
        else None,
        {c.subject for c in closed},
        unit="minutes",
    )
    new = [c for c in consents if c.first and c.decision == "given"]
    put("new_clients", len(new), {c.subject for c in new})
    decided = [c for c in consents if c.decision in ("given", "declined")]
    given = sum(1 for c in decided if c.decision == "given")
    put(
        "consent_rate",
        100.0 * given / len(decided) if decided else None,
        {c.subject for c in decided},
        unit="percent",
    )

    rights = [r for r in activity.rights if _in(r.requested_ms, lo_ms, hi_ms)]
    for kind in ("access", "erasure"):
        requests = [r for r in rights if r.kind == kind]
        put(f"{kind}_requests", len(requests), {r.subject for r in requests})
    done = [r for r in rights if r.served_ms is not None]
    put(
        "rights_turnaround",
        statistics.median((r.served_ms - r.requested_ms) / 60000 for r in done if r.served_ms)
        if done
        else None,
        {r.subject for r in done},
        unit="minutes",
    )

    runs = [r for r in activity.retention if _in(r.ts_ms, lo_ms, hi_ms)]
    put("retention_removed", sum(r.redacted for r in runs), about_people=False)
    put("retention_media", sum(r.media for r in runs), about_people=False)
    put("retention_failures", sum(r.failures for r in runs), about_people=False)
    return out
