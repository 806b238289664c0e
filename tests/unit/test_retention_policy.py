"""bot/retention/policy.py: durations, the policy files, refusing broken sets, the holder."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.retention.policy import (
    ROOM_KINDS,
    Policy,
    PolicyError,
    PolicyHolder,
    format_duration,
    load_policies,
    parse_duration,
    parse_policies,
)
from tests.support import REPO

POLICIES = REPO / "policies"
D = dt.timedelta
TEN_DAYS = D(days=10)


def write(directory: Path, files: dict[str, str | bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        if isinstance(text, bytes):
            (directory / name).write_bytes(text)
        else:
            (directory / name).write_text(text, encoding="utf-8")
    return directory


def refused(tmp_path: Path, files: dict[str, str | bytes]) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_policies(write(tmp_path / "p", files))
    return info.value


def policy(
    *,
    max_age: D = TEN_DAYS,
    min_age: D | None = None,
    media_max_age: D | None = None,
) -> Policy:
    return Policy("p", "", max_age, min_age, media_max_age, (), (), "p.toml")


# --- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", D(seconds=45)),
        ("2min", D(minutes=2)),
        ("3h", D(hours=3)),
        ("90d", D(days=90)),
        ("12w", D(weeks=12)),
        ("6mo", D(days=180)),
        ("1y", D(days=365)),
        ("2Y", D(days=730)),
        (" 7d ", D(days=7)),
        ("7 d", D(days=7)),
    ],
)
def test_parse_duration(text: str, expected: D) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["3 months", "0d", "-1d", "", "   ", "90", "1.5d", "d", "10 x", "1d2h"])
def test_parse_duration_rejects_text(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("value", [90, 1.5, None, True, ["90d"]])
def test_parse_duration_rejects_non_text(value: object) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(value)


def test_zero_is_refused_as_zero() -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration("0d")


def test_timedelta_passes_through() -> None:
    assert parse_duration(D(hours=5)) == D(hours=5)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D(days=365), "1y"),
        (D(days=730), "2y"),
        (D(days=30), "1mo"),
        (D(days=180), "6mo"),
        (D(weeks=2), "2w"),
        (D(days=2), "2d"),
        (D(hours=3), "3h"),
        (D(minutes=2), "2min"),
        (D(seconds=45), "45s"),
        (D(seconds=90), "90s"),
        (D(hours=25), "25h"),
    ],
)
def test_format_duration(value: D, text: str) -> None:
    assert format_duration(value) == text


@given(st.integers(min_value=1, max_value=200 * 365 * 86400))
def test_format_then_parse_round_trips(seconds: int) -> None:
    value = D(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


# --- the shipped policies ------------------------------------------------------------------


def test_shipped_policies_load() -> None:
    policies = load_policies(POLICIES)
    assert policies.default == "standard"
    assert "standard" in policies.policies
    assert policies.files == ("default.toml",)
    claimed = Counter(kind for p in policies.policies.values() for kind in p.room_kinds)
    assert set(claimed) == set(ROOM_KINDS)
    assert set(claimed.values()) == {1}, claimed
    for p in policies.policies.values():
        assert p.source == "default.toml"
        assert p.message_lifetime >= p.max_age
        assert p.media_lifetime <= p.message_lifetime


def test_policy_file_fields_are_read(tmp_path: Path) -> None:
    text = (
        'default = "b"\n'
        "[policy.b]\n"
        'description = "Beratung"\n'
        'max_age = "90d"\n'
        'min_age = "30d"\n'
        'media_max_age = "4w"\n'
        'room_kinds = ["consultation", "intake"]\n'
        'rooms = ["!abc:example.org", " #alias:example.org "]\n'
    )
    policies = load_policies(write(tmp_path / "p", {"b.toml": text}))
    b = policies.policies["b"]
    assert (b.name, b.description, b.source) == ("b", "Beratung", "b.toml")
    assert (b.max_age, b.min_age, b.media_max_age) == (D(days=90), D(days=30), D(weeks=4))
    assert b.room_kinds == ("consultation", "intake")
    assert b.rooms == ("!abc:example.org", "#alias:example.org")
    assert policies.default == "b"
    assert policies.by_kind("intake") is b
    assert policies.by_kind("team") is None
    assert policies.listing_room({"#alias:example.org"}) is b
    assert policies.listing_room({"!other:example.org"}) is None


def test_several_files_make_one_set(tmp_path: Path) -> None:
    policies = load_policies(
        write(
            tmp_path / "p",
            {
                "a.toml": 'default = "x"\n[policy.x]\nmax_age = "1y"\n',
                "b.toml": '[policy.y]\nmax_age = "1d"\nroom_kinds = ["team"]\n',
                "notes.txt": "not a policy file",
            },
        )
    )
    assert set(policies.policies) == {"x", "y"}
    assert policies.files == ("a.toml", "b.toml")
    assert policies.policies["y"].source == "b.toml"


def test_a_bom_is_fine(tmp_path: Path) -> None:
    policies = load_policies(write(tmp_path / "p", {"a.toml": '\ufeff[policy.x]\nmax_age = "1d"\n'}))
    assert set(policies.policies) == {"x"}


# --- refusing broken sets ------------------------------------------------------------------

GOOD = 'default = "standard"\n[policy.standard]\nmax_age = "1y"\n'


def test_toml_syntax_error_has_the_parsers_line(tmp_path: Path) -> None:
    err = refused(
        tmp_path,
        {"a.toml": GOOD, "b.toml": '# comment\n[policy.x]\nroom_kinds = ["team"]\nmax_age = 90d\n'},
    )
    assert (err.path.name, err.line) == ("b.toml", 4)
    assert "TOML syntax" in err.reason
    assert str(err).startswith("b.toml:4: ")


def test_unknown_key_in_a_policy_has_the_line_of_that_key(tmp_path: Path) -> None:
    text = '[policy.a]\nmax_age = "1d"\n\n[policy.b]\nmax_age = "2d"\nmaxage = "3d"\nroom_kinds = ["team"]\n'
    err = refused(tmp_path, {"a.toml": GOOD, "c.toml": text})
    assert (err.path.name, err.line) == ("c.toml", 6)
    assert "policy.b.maxage" in err.reason and "unknown key" in err.reason


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err = refused(tmp_path, {"a.toml": '# x\n\ndefualt = "standard"\n[policy.standard]\nmax_age = "1y"\n'})
    assert (err.path.name, err.line) == ("a.toml", 3)
    assert "defualt" in err.reason


def test_bad_duration_has_the_line_of_that_key(tmp_path: Path) -> None:
    # The same key in an earlier policy must not be reported instead.
    text = (
        "[policy.a]\n"
        'media_max_age = "1d"\n'
        'max_age = "2d"\n'
        "[policy.b]\n"
        'description = "b"\n'
        'max_age = "2d"\n'
        'media_max_age = "3 months"\n'
    )
    err = refused(tmp_path, {"x.toml": text})
    assert (err.path.name, err.line) == ("x.toml", 7)
    assert "3 months" in err.reason and "policy.b.media_max_age" in err.reason


def test_missing_max_age_points_at_the_policy(tmp_path: Path) -> None:
    err = refused(tmp_path, {"x.toml": '[policy.a]\nmax_age = "1d"\n\n[policy.b]\nmin_age = "1d"\n'})
    assert (err.path.name, err.line) == ("x.toml", 4)
    assert "missing" in err.reason


def test_unknown_room_kind(tmp_path: Path) -> None:
    text = '[policy.a]\nmax_age = "1d"\nroom_kinds = ["team", "beratung"]\n'
    err = refused(tmp_path, {"x.toml": text})
    assert (err.path.name, err.line) == ("x.toml", 3)
    assert "'beratung' is not a room kind" in err.reason
    assert "consultation" in err.reason  # the valid kinds are named


def test_bad_room_reference(tmp_path: Path) -> None:
    err = refused(tmp_path, {"x.toml": '[policy.a]\nmax_age = "1d"\nrooms = ["general"]\n'})
    assert (err.path.name, err.line) == ("x.toml", 3)
    assert "general" in err.reason


def test_two_policies_claiming_one_room_kind(tmp_path: Path) -> None:
    text = (
        "[policy.a]\n"
        'max_age = "1d"\n'
        'room_kinds = ["team", "group"]\n'
        "\n"
        "# the second one\n"
        "[policy.b]\n"
        'max_age = "2d"\n'
        'room_kinds = ["group"]\n'
    )
    err = refused(tmp_path, {"x.toml": text})
    assert (err.path.name, err.line) == ("x.toml", 6)
    assert "'group'" in err.reason and "'a'" in err.reason


def test_room_kind_claimed_in_two_files(tmp_path: Path) -> None:
    err = refused(
        tmp_path,
        {
            "a.toml": '[policy.a]\nmax_age = "1d"\nroom_kinds = ["team"]\n',
            "b.toml": '\n\n[policy.b]\nmax_age = "1d"\nroom_kinds = ["team"]\n',
        },
    )
    assert (err.path.name, err.line) == ("b.toml", 3)
    assert "'team'" in err.reason


def test_same_room_twice(tmp_path: Path) -> None:
    err = refused(
        tmp_path,
        {
            "a.toml": '[policy.a]\nmax_age = "1d"\nrooms = ["!r:example.org"]\n',
            "b.toml": '[policy.z]\nmax_age = "1d"\n[policy.b]\nmax_age = "2d"\nrooms = ["!r:example.org"]\n',
        },
    )
    assert (err.path.name, err.line) == ("b.toml", 3)
    assert "!r:example.org" in err.reason and "'a'" in err.reason


def test_two_files_setting_a_default(tmp_path: Path) -> None:
    err = refused(
        tmp_path,
        {
            "a.toml": GOOD,
            "b.toml": '# mine\n[policy.b]\nmax_age = "1d"\n',
            "c.toml": '# also mine\n\ndefault = "b"\n',
        },
    )
    assert (err.path.name, err.line) == ("c.toml", 3)
    assert "a.toml" in err.reason


def test_default_naming_an_undefined_policy(tmp_path: Path) -> None:
    err = refused(
        tmp_path,
        {"a.toml": '[policy.standard]\nmax_age = "1y"\n', "b.toml": '# x\ndefault = "standart"\n'},
    )
    assert (err.path.name, err.line) == ("b.toml", 2)
    assert "'standart'" in err.reason


def test_duplicate_policy_names_across_files(tmp_path: Path) -> None:
    err = refused(
        tmp_path,
        {
            "a.toml": GOOD,
            "b.toml": '[policy.other]\nmax_age = "1d"\n\n[policy.standard]\nmax_age = "2d"\n',
        },
    )
    assert (err.path.name, err.line) == ("b.toml", 4)
    assert "'standard'" in err.reason and "a.toml" in err.reason


def test_duplicate_policy_name_in_one_file_is_a_syntax_error(tmp_path: Path) -> None:
    err = refused(tmp_path, {"a.toml": '[policy.a]\nmax_age = "1d"\n[policy.a]\nmax_age = "2d"\n'})
    assert (err.path.name, err.line) == ("a.toml", 3)


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    text = '[policy.a]\nmax_age = "1d"\ndescription = "Mädchen"\n'
    err = refused(tmp_path, {"a.toml": GOOD, "b.toml": text.encode("cp1252")})
    assert (err.path.name, err.line) == ("b.toml", 3)
    assert "UTF-8" in err.reason


def test_huge_duration_is_refused_not_a_crash(tmp_path: Path) -> None:
    directory = write(tmp_path / "p", {"a.toml": '[policy.a]\n\nmax_age = "99999999999y"\n'})
    holder = PolicyHolder(directory)
    err = holder.reload()  # must report the file, not raise
    assert err is not None
    assert (err.path.name, err.line) == ("a.toml", 3)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('policy.a.max_age = "1d"\npolicy.a.maxage = "2d"\n', 2),
        ('[policy.a]\nmax_age = "1d"\n[policy.\'b c\']\nmax_age = "nope"\n', 4),
    ],
)
def test_line_for_other_toml_spellings(tmp_path: Path, text: str, line: int) -> None:
    err = refused(tmp_path, {"a.toml": text})
    assert err.line == line


def test_error_message_format() -> None:
    err = PolicyError(Path("/etc/lotse/policies/x.toml"), 7, "broken")
    assert str(err) == "x.toml:7: broken"
    assert (err.line, err.reason) == (7, "broken")


def test_empty_set_is_valid() -> None:
    policies = parse_policies({})
    assert (dict(policies.policies), policies.default) == ({}, None)


# --- the holder ----------------------------------------------------------------------------


def test_holder_keeps_the_last_good_set(tmp_path: Path) -> None:
    directory = write(tmp_path / "p", {"a.toml": GOOD})
    holder = PolicyHolder(directory)
    assert not holder.loaded
    assert holder.reload() is None
    assert holder.loaded and holder.error is None
    good, good_texts = holder.current, dict(holder.texts)
    assert set(good.policies) == {"standard"}
    assert good_texts == {"a.toml": GOOD}

    (directory / "b.toml").write_text('[policy.x]\nmax_age = "1 Jahr"\n', encoding="utf-8")
    err = holder.reload()
    assert err is not None and err.path.name == "b.toml" and err.line == 2
    assert holder.error is err
    assert holder.current is good
    assert holder.texts == good_texts
    assert holder.loaded

    (directory / "b.toml").write_text('[policy.x]\nmax_age = "1y"\n', encoding="utf-8")
    assert holder.reload() is None
    assert holder.error is None
    assert set(holder.current.policies) == {"standard", "x"}
    assert set(holder.texts) == {"a.toml", "b.toml"}


def test_holder_restore_from_stored_texts(tmp_path: Path) -> None:
    directory = write(tmp_path / "p", {"a.toml": "[policy.x\n"})
    holder = PolicyHolder(directory)
    assert holder.reload() is not None
    assert not holder.loaded
    assert holder.current.policies == {}

    assert holder.restore({"a.toml": GOOD})
    assert holder.loaded
    assert set(holder.current.policies) == {"standard"}
    assert holder.current.default == "standard"
    assert holder.texts == {"a.toml": GOOD}

    restored = holder.current
    assert not holder.restore({"a.toml": 'default = "nope"\n'})
    assert holder.current is restored
    assert holder.texts == {"a.toml": GOOD}


# --- lifetimes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_age", "min_age", "expected"),
    [
        (D(days=10), None, D(days=10)),
        (D(days=10), D(days=30), D(days=30)),
        (D(days=30), D(days=10), D(days=30)),
    ],
)
def test_message_lifetime(max_age: D, min_age: D | None, expected: D) -> None:
    assert policy(max_age=max_age, min_age=min_age).message_lifetime == expected


@pytest.mark.parametrize(
    ("max_age", "min_age", "media", "expected"),
    [
        (D(days=10), None, None, D(days=10)),
        (D(days=10), None, D(days=5), D(days=5)),
        (D(days=10), D(days=3), D(days=5), D(days=5)),
        (D(days=10), D(days=7), D(days=5), D(days=7)),
        (D(days=10), D(days=30), None, D(days=30)),
    ],
)
def test_media_lifetime(max_age: D, min_age: D | None, media: D | None, expected: D) -> None:
    assert policy(max_age=max_age, min_age=min_age, media_max_age=media).media_lifetime == expected
