"""bot/stats/aggregate.py and bot/stats/anonymize.py: what may leave the bot, as properties."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.stats.aggregate import (
    FIGURES,
    GROUPS,
    Activity,
    ConsentEvent,
    Figure,
    Message,
    RetentionRun,
    RightsRequest,
    contacts,
    figures,
)
from bot.stats.anonymize import MIN_K, Cell, anonymize, laplace_noise
from bot.stats.officehours import OfficeHours
from bot.stats.periods import parse_period

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = OfficeHours(BERLIN)
TARGET = dt.timedelta(hours=8)
WEEK = parse_period("2026-W47")
LO, HI = WEEK.bounds_ms(BERLIN)
MIN = 60_000
H = 60 * MIN

CLIENTS = [f"@client{i}:example.org" for i in range(10)]
WORKERS = [f"@worker{i}:example.org" for i in range(5)]
ROOMS = [f"!room{i}:example.org" for i in range(6)]


def at(day: int, hour: int, minute: int = 0) -> int:
    """Milliseconds of a wall-clock time in week 2026-W47 (day 0 = Monday 16 Nov)."""
    local = dt.datetime.combine(WEEK.start + dt.timedelta(days=day), dt.time(hour, minute), BERLIN)
    return int(local.timestamp() * 1000)


# --- strategies -----------------------------------------------------------------------------

# Mostly inside the week; some before/after it to exercise the period filter.
in_week = st.integers(min_value=LO, max_value=HI - 1)
around_week = st.one_of(
    in_week, in_week, in_week, st.integers(min_value=LO - 2 * 86_400_000, max_value=HI + 3 * 86_400_000)
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    role = draw(st.sampled_from(["client", "worker"]))
    sender = draw(st.sampled_from(CLIENTS if role == "client" else WORKERS))
    return Message(draw(st.sampled_from(ROOMS)), sender, role, draw(around_week))


consent_events = st.builds(
    ConsentEvent,
    subject=st.sampled_from(CLIENTS),
    decision=st.sampled_from(["given", "declined", "withdrawn"]),
    ts_ms=around_week,
    first=st.booleans(),
)


@st.composite
def rights_requests(draw: st.DrawFn) -> RightsRequest:
    requested = draw(around_week)
    served = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=10 * 86_400_000)))
    return RightsRequest(
        draw(st.sampled_from(["access", "erasure"])),
        draw(st.sampled_from(CLIENTS)),
        requested,
        None if served is None else requested + served,
    )


retention_runs = st.builds(
    RetentionRun,
    ts_ms=around_week,
    redacted=st.integers(0, 50),
    media=st.integers(0, 10),
    failures=st.integers(0, 3),
)

activities = st.builds(
    Activity,
    messages=st.lists(messages(), max_size=60),
    consents=st.lists(consent_events, max_size=25),
    rights=st.lists(rights_requests(), max_size=10),
    retention=st.lists(retention_runs, max_size=4),
)
ks = st.integers(min_value=3, max_value=8)


def compute(activity: Activity) -> dict[str, Figure]:
    return figures(activity, LO, HI, HOURS, TARGET)


# --- anonymize: the four rules, for any activity --------------------------------------------


@settings(max_examples=50, deadline=None)
@given(activities, ks)
def test_shown_figures_about_people_have_k_persons(activity: Activity, k: int) -> None:
    figs = compute(activity)
    cells = anonymize(figs, k)
    for key, cell in cells.items():
        if not cell.suppressed and cell.value is not None and figs[key].about_people:
            persons = figs[key].persons
            # Either enough people, or nobody at all: a zero that is about no one.
            assert len(persons) >= k or (not persons and cell.value == 0 and cell.unit == "count"), key


@settings(max_examples=50, deadline=None)
@given(activities, ks)
def test_groups_are_suppressed_together(activity: Activity, k: int) -> None:
    cells = anonymize(compute(activity), k)
    for group in GROUPS:
        present = group & cells.keys()
        assert present == group  # figures() always computes every member
        assert len({cells[key].suppressed for key in present}) == 1, {key: cells[key] for key in present}


@settings(max_examples=60, deadline=None)
@given(activities, st.integers(min_value=-5, max_value=2))
def test_k_below_three_is_raised_to_three(activity: Activity, k: int) -> None:
    figs = compute(activity)
    assert MIN_K == 3
    assert anonymize(figs, k) == anonymize(figs, 3)


@settings(max_examples=50, deadline=None)
@given(activities, ks)
def test_suppressed_cells_carry_no_value(activity: Activity, k: int) -> None:
    figs = compute(activity)
    cells = anonymize(figs, k)
    assert cells.keys() == figs.keys()
    for key, cell in cells.items():
        assert isinstance(cell, Cell) and cell.key == key and cell.unit == figs[key].unit
        if cell.suppressed:
            assert cell.value is None
        else:
            assert cell.value == figs[key].value  # no noise asked for: exact
        if not figs[key].about_people:
            assert not cell.suppressed


def test_k_below_three_hides_two_persons() -> None:
    figs = {"messages_clients": Figure("messages_clients", 7, frozenset({"a", "b"}))}
    for k in (0, 1, 2):
        assert anonymize(figs, k)["messages_clients"] == Cell("messages_clients", None, True, "count")
    three = {"messages_clients": Figure("messages_clients", 7, frozenset({"a", "b", "c"}))}
    assert anonymize(three, 1)["messages_clients"].value == 7


def test_complementary_suppression_example() -> None:
    three, two = frozenset({"a", "b", "c"}), frozenset({"d", "e"})
    figs = {
        "consent_given": Figure("consent_given", 3, three),
        "consent_declined": Figure("consent_declined", 2, two),
        "consent_rate": Figure("consent_rate", 60.0, three | two, unit="percent"),
        "consent_withdrawn": Figure("consent_withdrawn", 3, three),
    }
    cells = anonymize(figs, 3)
    # "declined" alone is too small; "given" and the rate would reveal it, so all three go.
    assert all(cells[k].suppressed for k in ("consent_given", "consent_declined", "consent_rate"))
    assert cells["consent_withdrawn"] == Cell("consent_withdrawn", 3, False, "count")


def test_system_figures_need_no_threshold() -> None:
    cells = anonymize(compute(Activity(retention=[RetentionRun(at(1, 3), 12, 2, 1)])), 5)
    assert cells["retention_removed"].value == 12
    assert cells["retention_media"].value == 2
    assert cells["retention_failures"].value == 1
    for key in FIGURES:
        if not key.startswith("retention_"):
            # Nobody did anything: counts are zero (about no one), derived figures undefined.
            assert not cells[key].suppressed
            assert cells[key].value == (0 if cells[key].unit == "count" else None)


@settings(max_examples=40, deadline=None)
@given(activities, ks)
def test_noise_only_touches_shown_counts(activity: Activity, k: int) -> None:
    figs = compute(activity)
    plain = anonymize(figs, k)
    noisy = anonymize(figs, k, noise=lambda v: v + 1000)
    for key, cell in noisy.items():
        assert cell.suppressed == plain[key].suppressed
        if cell.suppressed or cell.value is None or cell.unit != "count":
            assert cell == plain[key]
        else:
            assert cell.value == plain[key].value + 1000  # type: ignore[operator]


def test_laplace_noise_is_non_negative_and_random() -> None:
    noise = laplace_noise(0.5)
    zeros = [noise(0) for _ in range(200)]
    assert all(isinstance(v, int) and v >= 0 for v in zeros)
    assert any(v > 0 for v in zeros)
    tens = [noise(10) for _ in range(50)]
    assert len(set(tens)) > 1
    assert all(v >= 0 for v in tens)


# --- no per-person dimension ----------------------------------------------------------------


def test_figure_names_are_fixed_and_about_the_organisation() -> None:
    assert len(FIGURES) == len(set(FIGURES)) == 22
    for name in FIGURES:
        assert name.replace("_", "").isalpha(), name  # no embedded IDs, numbers or separators
        words = name.split("_")
        assert not {"per", "by", "each", "of", "id", "individual", "person"} & set(words), name
    assert all(group <= set(FIGURES) for group in GROUPS)


@settings(max_examples=50, deadline=None)
@given(activities)
def test_figures_keys_are_exactly_figures(activity: Activity) -> None:
    figs = compute(activity)
    assert sorted(figs) == sorted(FIGURES)
    assert all(f.key == key for key, f in figs.items())
    everybody = set(CLIENTS) | set(WORKERS) | set(ROOMS)
    assert not any(who in key for key in figs for who in everybody)
    for f in figs.values():
        assert f.value is None or isinstance(f.value, int | float)
        assert f.persons <= set(CLIENTS) | set(WORKERS)  # persons, never rooms


def test_figures_of_nothing() -> None:
    figs = compute(Activity())
    assert sorted(figs) == sorted(FIGURES)
    assert figs["messages_clients"].value == 0
    assert figs["answered_in_target"].value is None
    assert figs["median_first_answer"].value is None
    assert figs["consent_rate"].value is None
    assert all(not f.persons for f in figs.values())


# --- contacts and response times ------------------------------------------------------------


def test_contacts_ignore_later_client_messages_until_answered() -> None:
    room, other = ROOMS[0], ROOMS[1]
    c1 = Message(room, CLIENTS[0], "client", at(1, 10))
    c2 = Message(room, CLIENTS[0], "client", at(1, 11))  # a follow-up: still the same contact
    c3 = Message(room, CLIENTS[0], "client", at(1, 12))
    w1 = Message(room, WORKERS[0], "worker", at(1, 13))
    w2 = Message(room, WORKERS[1], "worker", at(1, 14))  # a second answer: nothing new
    c4 = Message(room, CLIENTS[0], "client", at(2, 9))
    x1 = Message(other, CLIENTS[1], "client", at(1, 10, 30))
    x0 = Message(other, WORKERS[0], "worker", at(1, 9))  # the room starts with the worker
    got = contacts([c4, w2, c3, x1, c2, w1, c1, x0])  # order of input does not matter
    assert sorted(got, key=lambda p: p[0].ts_ms) == [(c1, w1), (x1, None), (c4, None)]


def test_response_time_counts_from_first_unanswered_message() -> None:
    room = ROOMS[0]
    activity = Activity(
        [
            Message(room, CLIENTS[0], "client", at(1, 9)),
            Message(room, CLIENTS[0], "client", at(1, 11)),
            Message(room, WORKERS[0], "worker", at(1, 12)),
        ]
    )
    figs = compute(activity)
    assert figs["client_contacts"].value == 1
    assert figs["median_first_answer"].value == 180  # from 09:00, not from 11:00
    assert figs["answered_in_target"].value == 100.0
    assert figs["messages_clients"].value == 2
    assert figs["client_contacts"].persons == {CLIENTS[0], WORKERS[0]}


def test_response_time_is_office_time() -> None:
    room = ROOMS[0]
    friday_evening = Message(room, CLIENTS[0], "client", at(4, 18))
    tuesday_answer = Message(room, WORKERS[0], "worker", at(1, 9))
    tuesday = Message(room, CLIENTS[1], "client", at(1, 8))
    figs = compute(Activity([tuesday, tuesday_answer, friday_evening]))
    assert figs["client_contacts"].value == 2
    assert figs["median_first_answer"].value == 60  # Tuesday 08:00 → 09:00
    assert figs["after_hours"].value == 50.0  # Friday 18:00 is outside office hours


def test_weekend_request_answered_monday_counts_as_in_time() -> None:
    room = ROOMS[0]
    request = Message(room, CLIENTS[0], "client", at(4, 18))
    next_monday = Message(room, WORKERS[0], "worker", at(7, 9))
    figs = compute(Activity([request, next_monday]))
    assert figs["answered_in_target"].value == 100.0
    assert figs["median_first_answer"].value == 60


def test_median_answer_time_from_one_answer_is_hidden() -> None:
    msgs = [Message(ROOMS[i], CLIENTS[i], "client", at(1, 9)) for i in range(5)]
    msgs.append(Message(ROOMS[0], WORKERS[0], "worker", at(1, 9, 17)))  # the only answer
    cells = anonymize(compute(Activity(msgs)), 3)
    assert cells["median_first_answer"].value != 17  # one worker's single response time


@settings(max_examples=60, deadline=None)
@given(st.lists(messages(), max_size=40))
def test_contacts_property(msgs: list[Message]) -> None:
    pairs = contacts(msgs)
    by_room: dict[str, list[tuple[Message, Message | None]]] = {}
    for c, a in pairs:
        assert c.role == "client"
        assert a is None or (a.role == "worker" and a.room == c.room and a.ts_ms >= c.ts_ms)
        by_room.setdefault(c.room, []).append((c, a))
    for room, room_pairs in by_room.items():
        ordered = sorted(msgs_in(msgs, room), key=lambda m: m.ts_ms)
        # One contact per run of client messages that follows a worker message (or the start).
        runs = sum(
            1
            for i, m in enumerate(ordered)
            if m.role == "client" and not any(p.role == "client" for p in runs_since_worker(ordered, i))
        )
        assert len(room_pairs) == runs
        assert all(a is not None for _, a in room_pairs[:-1])  # only the last may be unanswered
    assert len(pairs) <= sum(1 for m in msgs if m.role == "client")


def msgs_in(msgs: list[Message], room: str) -> list[Message]:
    return [m for m in msgs if m.room == room]


def runs_since_worker(ordered: list[Message], i: int) -> list[Message]:
    """The messages between the last worker message before ``i`` and ``i``."""
    j = i - 1
    while j >= 0 and ordered[j].role != "worker":
        j -= 1
    return ordered[j + 1 : i]
