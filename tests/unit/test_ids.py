"""bot/ids.py: the identifier parsers."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.ids import (
    parse_event_id,
    parse_room_id,
    parse_room_ref,
    parse_user_id,
    server_name,
)


def _v12_room_id(seed: str) -> str:
    """A room-version-12 room ID: "!" and the unpadded url-safe base64 of a sha256 hash."""
    digest = hashlib.sha256(seed.encode()).digest()
    return "!" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


# --- user IDs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "@alice:example.org",
        "@lotse:matrix.example.org",
        "@a.b_c=d-e/f:example.org",
        "@Alice:example.org",  # historical user IDs may contain upper case
        "@bob:example.org:8448",
        "@bob:127.0.0.1",
        "@bob:[::1]:8448",
    ],
)
def test_valid_user_ids(value: str) -> None:
    assert parse_user_id(value) == value


def test_user_id_surrounding_whitespace_is_stripped() -> None:
    assert parse_user_id("  @alice:example.org\n") == "@alice:example.org"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "alice:example.org",  # no sigil
        "@alice",  # no server part
        "@alice:",  # empty server part
        "@:example.org",  # empty localpart
        "@al ice:example.org",  # whitespace in localpart
        "@alice:exa mple.org",  # whitespace in server
        "@alice@example.org",  # e-mail style
        "@al@ice:example.org",
        "!alice:example.org",  # room sigil
        "#alice:example.org",  # alias sigil
        "@alice:example.org/path",
        "@alice:example_org",
    ],
)
def test_invalid_user_ids(value: str) -> None:
    with pytest.raises(ValueError, match="not a Matrix user ID"):
        parse_user_id(value)


_LOCALPART = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789._=-/"), min_size=1, max_size=30
)
_SERVER = st.from_regex(r"[a-z0-9][a-z0-9\-]{0,15}(\.[a-z0-9\-]{1,10}){0,3}(:[0-9]{1,5})?", fullmatch=True)


@given(local=_LOCALPART, server=_SERVER)
def test_user_id_roundtrip_and_server_name(local: str, server: str) -> None:
    uid = parse_user_id(f"@{local}:{server}")
    assert uid == f"@{local}:{server}"
    assert server_name(uid) == server


# --- room IDs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "!abcdef:example.org",
        "!OGEhHVWSdvArJzumhm:matrix.org",
        "!abc:example.org:8448",
        _v12_room_id("one"),
        _v12_room_id("two"),
    ],
)
def test_valid_room_ids(value: str) -> None:
    assert parse_room_id(value) == value


def test_v12_room_id_has_43_url_safe_chars() -> None:
    # Guard for the fixture itself: the real room v12 format.
    rid = _v12_room_id("x")
    assert len(rid) == 44
    assert ":" not in rid
    assert parse_room_id(rid) == rid


@given(st.binary(min_size=32, max_size=32))
def test_any_v12_room_id_is_accepted(digest: bytes) -> None:
    rid = "!" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert parse_room_id(rid) == rid


@pytest.mark.parametrize(
    "value",
    [
        "",
        "abc:example.org",  # no sigil
        "!abc",  # short, and no server part
        "!" + "a" * 19,  # too short for a v12 ID
        "!abc:",  # empty server part
        "!ab c:example.org",
        "#abc:example.org",
        "@abc:example.org",
        "!" + "a" * 20 + "+" + "b" * 22,  # standard (not url-safe) base64 alphabet
        "!" + "a" * 20 + "/" + "b" * 22,
        "!" + "a" * 20 + " " + "b" * 22,
    ],
)
def test_invalid_room_ids(value: str) -> None:
    with pytest.raises(ValueError, match="not a Matrix room ID"):
        parse_room_id(value)


def test_room_id_whitespace_is_stripped() -> None:
    assert parse_room_id(" !abc:example.org\t") == "!abc:example.org"


# --- room references (ID or alias) ---------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["#team:example.org", "#Leitung-2024:example.org", "#a:example.org:8448"],
)
def test_alias_is_accepted_as_room_ref(value: str) -> None:
    assert parse_room_ref(value) == value


def test_room_ref_accepts_room_ids_including_v12() -> None:
    assert parse_room_ref("!abc:example.org") == "!abc:example.org"
    rid = _v12_room_id("ref")
    assert parse_room_ref(rid) == rid
    assert parse_room_ref(f"  {rid} ") == rid


@pytest.mark.parametrize(
    "value", ["", "#team", "#team:", "#te am:example.org", "team:example.org", "@u:example.org"]
)
def test_invalid_room_refs_name_both_forms(value: str) -> None:
    with pytest.raises(ValueError, match=r"neither a room ID .* nor an alias"):
        parse_room_ref(value)


# --- event IDs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "$abc",
        "$143273582443PhrSn:example.org",  # room versions 1 and 2
        "$" + base64.urlsafe_b64encode(hashlib.sha256(b"e").digest()).decode().rstrip("="),
        "$acR1l0raoZnm60CBwAVgqbZqoO/mYU81xysh1u7XcJk",  # v3 uses standard base64
    ],
)
def test_valid_event_ids(value: str) -> None:
    assert parse_event_id(value) == value


@pytest.mark.parametrize("value", ["", "$", "abc", "!abc:example.org", "$ab c", "$a\tb", "$a\nb", " ", "$ "])
def test_invalid_event_ids(value: str) -> None:
    with pytest.raises(ValueError, match="not a Matrix event ID"):
        parse_event_id(value)


@pytest.mark.parametrize("value", [" $abc", "$abc\n", "\t$abc \r\n", "\n$abc"])
def test_event_id_surrounding_whitespace_is_stripped(value: str) -> None:
    # Never returned with the whitespace (a trailing newline used to slip through `$`).
    assert parse_event_id(value) == "$abc"


@given(
    st.from_regex(r"\$[A-Za-z0-9+/=_:.\-]{1,60}", fullmatch=True),
    st.sampled_from(["", " ", "\n", "\t", "\r\n"]),
)
def test_parsed_event_id_never_contains_whitespace(event_id: str, pad: str) -> None:
    parsed = parse_event_id(pad + event_id + pad)
    assert parsed == event_id
    assert not any(ch.isspace() for ch in parsed)


# --- server_name ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uid", "server"),
    [
        ("@a:example.org", "example.org"),
        ("@a:example.org:8448", "example.org:8448"),
        ("@a:[::1]:8448", "[::1]:8448"),
        ("@a.b=c:matrix.example.org", "matrix.example.org"),
    ],
)
def test_server_name(uid: str, server: str) -> None:
    assert server_name(parse_user_id(uid)) == server
