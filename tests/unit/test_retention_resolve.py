"""bot/retention/resolve.py: which policy applies to a room, and why."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from bot.ids import RoomID
from bot.retention.policy import ROOM_KINDS, Policy, PolicySet, parse_policies
from bot.retention.resolve import resolve

ROOM = RoomID("!room:example.org")
ALIAS = "#beratung-nord:example.org"

TEXT = """
default = "standard"

[policy.standard]
max_age = "1y"

[policy.beratung]
max_age = "180d"
room_kinds = ["consultation", "intake"]

[policy.by_id]
max_age = "30d"
rooms = ["!room:example.org"]

[policy.by_alias]
max_age = "60d"
rooms = ["#beratung-nord:example.org"]

[policy.extra]
max_age = "2y"
"""


def policies(text: str = TEXT) -> PolicySet:
    return parse_policies({"p.toml": text})


def test_assignment_wins_over_everything() -> None:
    r = resolve(ROOM, "consultation", policies(), {ROOM: "extra"}, {ROOM, ALIAS})
    assert (r.policy and r.policy.name, r.reason) == ("extra", "assigned")


def test_assignment_of_another_room_does_not_count() -> None:
    other = RoomID("!other:example.org")
    r = resolve(ROOM, "consultation", policies(), {other: "extra"}, {ROOM})
    assert (r.policy and r.policy.name, r.reason) == ("by_id", "listed")


def test_listed_by_id_wins_over_kind() -> None:
    r = resolve(ROOM, "consultation", policies(), {}, {ROOM})
    assert (r.policy and r.policy.name, r.reason) == ("by_id", "listed")


def test_listed_by_id_without_room_refs() -> None:
    # Without refs, the room's ID alone is looked up.
    r = resolve(ROOM, "consultation", policies(), {})
    assert (r.policy and r.policy.name, r.reason) == ("by_id", "listed")


def test_listed_by_alias_via_room_refs() -> None:
    room = RoomID("!abc:example.org")
    r = resolve(room, "consultation", policies(), {}, {room, ALIAS})
    assert (r.policy and r.policy.name, r.reason) == ("by_alias", "listed")
    # Without the alias among its refs the room is not recognised as listed.
    r = resolve(room, "consultation", policies(), {}, {room})
    assert (r.policy and r.policy.name, r.reason) == ("beratung", "kind")


def test_kind_wins_over_default() -> None:
    room = RoomID("!abc:example.org")
    r = resolve(room, "intake", policies(), {}, {room})
    assert (r.policy and r.policy.name, r.reason) == ("beratung", "kind")


def test_default_when_nothing_else_matches() -> None:
    room = RoomID("!abc:example.org")
    r = resolve(room, "team", policies(), {}, {room})
    assert (r.policy and r.policy.name, r.reason) == ("standard", "default")


def test_none_without_default() -> None:
    room = RoomID("!abc:example.org")
    text = TEXT.replace('default = "standard"', "")
    r = resolve(room, "team", policies(text), {}, {room})
    assert (r.policy, r.reason) == (None, "none")


def test_none_with_no_policies_at_all() -> None:
    r = resolve(ROOM, "team", parse_policies({}), {}, {ROOM})
    assert (r.policy, r.reason) == (None, "none")


def test_assignment_of_a_removed_policy_falls_through() -> None:
    r = resolve(ROOM, "consultation", policies(), {ROOM: "gone"}, {ROOM})
    assert (r.policy and r.policy.name, r.reason) == ("by_id", "unknown_assignment")
    room = RoomID("!abc:example.org")
    r = resolve(room, "intake", policies(), {room: "gone"}, {room})
    assert (r.policy and r.policy.name, r.reason) == ("beratung", "unknown_assignment")
    r = resolve(room, "team", policies(), {room: "gone"}, {room})
    assert (r.policy and r.policy.name, r.reason) == ("standard", "unknown_assignment")
    text = TEXT.replace('default = "standard"', "")
    r = resolve(room, "team", policies(text), {room: "gone"}, {room})
    assert (r.policy, r.reason) == (None, "unknown_assignment")


# --- properties ----------------------------------------------------------------------------

ROOMS = [RoomID(f"!r{i}:example.org") for i in range(4)]
ALIASES = [f"#a{i}:example.org" for i in range(3)]
NAMES = ["p0", "p1", "p2", "p3"]


@st.composite
def policy_sets(draw: st.DrawFn) -> PolicySet:
    """Valid sets: every kind and room claimed by at most one policy, as the loader ensures."""
    count = draw(st.integers(min_value=0, max_value=len(NAMES)))
    names = NAMES[:count]
    kinds: dict[str, list[str]] = {n: [] for n in names}
    rooms: dict[str, list[str]] = {n: [] for n in names}
    if names:
        for kind in ROOM_KINDS:
            owner = draw(st.sampled_from([None, *names]))
            if owner is not None:
                kinds[owner].append(kind)
        for ref in [*ROOMS, *ALIASES]:
            owner = draw(st.sampled_from([None, *names]))
            if owner is not None:
                rooms[owner].append(ref)
    made = {
        n: Policy(n, "", dt.timedelta(days=i + 1), None, None, tuple(kinds[n]), tuple(rooms[n]), "p.toml")
        for i, n in enumerate(names)
    }
    default = draw(st.sampled_from([None, *names])) if names else None
    return PolicySet(made, default)


def matching_rules(p: Policy, room: RoomID, kind: str, refs: set[str], assigned: str | None) -> set[str]:
    rules = set()
    if assigned == p.name:
        rules.add("assigned")
    if refs & set(p.rooms):
        rules.add("listed")
    if kind in p.room_kinds:
        rules.add("kind")
    return rules


@given(
    policy_sets(),
    st.sampled_from(ROOMS),
    st.sampled_from(ROOM_KINDS),
    st.sets(st.sampled_from(ALIASES), max_size=2),
    st.sampled_from([None, "gone", *NAMES]),
)
def test_resolve_properties(
    ps: PolicySet, room: RoomID, kind: str, aliases: set[str], assigned: str | None
) -> None:
    refs = {room, *aliases}
    assignments = {room: assigned} if assigned is not None else {}
    r = resolve(room, kind, ps, assignments, refs)

    if ps.default is not None:
        assert r.policy is not None
    if r.policy is None:
        assert r.reason in ("none", "unknown_assignment")
        return
    assert r.policy is ps.policies[r.policy.name]
    rules = matching_rules(r.policy, room, kind, refs, assigned)
    if r.policy.name == ps.default:
        rules.add("default")
    assert rules, f"{r.policy.name} matches no rule"

    # The reason names the rule with the highest precedence that matched.
    order = ["assigned", "listed", "kind", "default"]
    valid_assignment = assigned is not None and assigned in ps.policies
    any_listed = any(refs & set(p.rooms) for p in ps.policies.values())
    any_kind = any(kind in p.room_kinds for p in ps.policies.values())
    if valid_assignment:
        expected = "assigned"
    elif any_listed:
        expected = "listed"
    elif any_kind:
        expected = "kind"
    else:
        expected = "default"
    if assigned is not None and not valid_assignment:
        assert r.reason == "unknown_assignment"
    else:
        assert r.reason == expected
    assert expected in rules
    assert order.index(expected) == min(order.index(rule) for rule in rules if rule in order)
