"""Per-team figures: properties over generated activity (hypothesis)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.stats.aggregate import Activity, Message, figures
from bot.stats.officehours import OfficeHours
from bot.stats.teams import ADDITIVE, OTHER, TEAM_FIGURES, _subset, team_rows

TZ = ZoneInfo("Europe/Berlin")
HOURS = OfficeHours(TZ)
LO = int(dt.datetime(2026, 11, 16, tzinfo=TZ).timestamp() * 1000)
HI = LO + 7 * 86_400_000
TARGET = dt.timedelta(hours=8)


@st.composite
def team_activity(draw: st.DrawFn) -> Activity:
    teams = draw(st.integers(min_value=2, max_value=4))
    messages = []
    for t in range(teams):
        workers = draw(st.integers(min_value=1, max_value=7))
        clients = draw(st.integers(min_value=1, max_value=9))
        for c in range(clients):
            room = f"room-{t}-{c}"
            for _ in range(draw(st.integers(min_value=1, max_value=3))):
                ts = LO + draw(st.integers(min_value=0, max_value=HI - LO - 1))
                messages.append(Message(room, f"client-{t}-{c}", "client", ts, f"team-{t}"))
                if draw(st.booleans()):
                    w = draw(st.integers(min_value=0, max_value=workers - 1))
                    messages.append(
                        Message(room, f"worker-{t}-{w}", "worker", min(ts + 3_600_000, HI - 1), f"team-{t}")
                    )
    return Activity(messages)


LABELS = {f"team-{t}": f"T{t}" for t in range(4)}


@settings(max_examples=60, deadline=None)
@given(activity=team_activity(), k=st.integers(min_value=3, max_value=6))
def test_team_rows_never_single_anyone_out(activity: Activity, k: int) -> None:
    rows = team_rows(activity, LO, HI, HOURS, TARGET, k, LABELS)
    if not rows:
        return
    assert rows[-1].label == OTHER
    by_label = {v: key for key, v in LABELS.items()}
    for label, cells in ((r.label, r.cells) for r in rows):
        if label == OTHER:
            continue
        team = by_label[label]
        active = [m for m in activity.messages if m.team == team]
        # A team shows on its own only with at least k workers and k clients active.
        assert len({m.sender for m in active if m.role == "worker"}) >= k
        assert len({m.sender for m in active if m.role == "client"}) >= k
        figs = figures(_subset(activity, {team}), LO, HI, HOURS, TARGET)
        for key in TEAM_FIGURES:
            cell = cells[key]
            if not cell.suppressed and cell.value:
                assert len(figs[key].persons) >= k, (key, cell)
    # Rows add up to the organisation: the hidden cells of a column together come from nobody
    # or from at least k people, so "total minus the shown ones" reveals no small group.
    for key in ADDITIVE:
        hidden = [r for r in rows if r.cells[key].suppressed]
        assert len(hidden) != 1, (key, [r.label for r in hidden])
        together = set().union(*(r.figures[key].persons for r in hidden))
        assert not together or len(together) >= k, (key, len(together))


def test_rows_add_up_to_the_organisation_when_nothing_is_hidden() -> None:
    messages = []
    for t in range(2):
        for c in range(5):
            messages.append(Message(f"r{t}{c}", f"c{t}{c}", "client", LO + 1000 * c, f"team-{t}"))
            messages.append(Message(f"r{t}{c}", f"w{t}{c}", "worker", LO + 1000 * c + 10, f"team-{t}"))
    activity = Activity(messages)
    rows = team_rows(activity, LO, HI, HOURS, TARGET, 5, LABELS)
    assert [r.label for r in rows] == ["T0", "T1", OTHER]
    org = figures(activity, LO, HI, HOURS, TARGET)
    for key in ADDITIVE:
        assert sum(r.cells[key].value or 0 for r in rows) == org[key].value


def test_one_team_is_no_breakdown() -> None:
    activity = Activity([Message("r", f"c{i}", "client", LO + i, "team-0") for i in range(9)])
    assert team_rows(activity, LO, HI, HOURS, TARGET, 3, LABELS) == []


def test_small_team_is_merged_into_other_teams() -> None:
    messages = [Message(f"r{c}", f"c{c}", "client", LO + c, "team-0") for c in range(6)]
    messages += [Message(f"r{c}", f"w{c}", "worker", LO + c + 5, "team-0") for c in range(6)]
    messages += [Message("small", "c-small", "client", LO, "team-1")]
    rows = team_rows(Activity(messages), LO, HI, HOURS, TARGET, 3, LABELS)
    assert [r.label for r in rows] == ["T0", OTHER]
    assert rows[1].cells["messages_clients"].suppressed
    # Secondary suppression: T0's client messages are hidden too, or other = total − T0.
    assert rows[0].cells["messages_clients"].suppressed
