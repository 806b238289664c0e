"""bot/pseudonym.py: keyed pseudonyms and the key file."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.pseudonym import KEY_BYTES, Pseudonymizer, load_or_create_key

KEY_A = b"a" * 32
KEY_B = b"b" * 32
ALICE = "@alice:example.org"


def test_deterministic_for_one_key() -> None:
    assert Pseudonymizer(KEY_A)(ALICE) == Pseudonymizer(KEY_A)(ALICE)


def test_differs_across_keys() -> None:
    assert Pseudonymizer(KEY_A)(ALICE) != Pseudonymizer(KEY_B)(ALICE)


def test_differs_across_identifiers() -> None:
    p = Pseudonymizer(KEY_A)
    assert p(ALICE) != p("@bob:example.org")


def test_differs_across_contexts() -> None:
    p = Pseudonymizer(KEY_A)
    assert p(ALICE) != p.derive("log")(ALICE)
    assert p.derive("log")(ALICE) != p.derive("stats")(ALICE)
    assert p.derive("log")(ALICE) == Pseudonymizer(KEY_A, context="log")(ALICE)
    # The default context is "subject".
    assert p.derive("subject")(ALICE) == p(ALICE)


def test_context_separator_prevents_ambiguity() -> None:
    # ("ab", "c") and ("a", "bc") must not collide.
    assert Pseudonymizer(KEY_A, context="ab")("c") != Pseudonymizer(KEY_A, context="a")("bc")


def test_shape_is_unpadded_urlsafe_sha256() -> None:
    out = Pseudonymizer(KEY_A)(ALICE)
    assert len(out) == 43
    assert "=" not in out
    assert len(base64.urlsafe_b64decode(out + "=")) == 32


@given(local=st.from_regex(r"[a-z0-9._=\-]{3,30}", fullmatch=True))
def test_property_does_not_contain_the_input(local: str) -> None:
    uid = f"@{local}:example.org"
    out = Pseudonymizer(KEY_A)(uid)
    assert uid not in out
    assert "example.org" not in out
    assert "@" not in out


def test_short_is_prefix_tag() -> None:
    p = Pseudonymizer(KEY_A)
    s = p.short(ALICE)
    assert s.startswith("u:")
    assert len(s) == 12
    assert s == "u:" + p(ALICE)[:10]
    assert ALICE not in s
    assert p.short("@bob:example.org") != s


def test_key_file_created_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "pseudonym.key"
    key = load_or_create_key(path)
    assert len(key) == KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert base64.b64decode(path.read_bytes().strip()) == key


def test_key_file_is_reused(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.key"
    first = load_or_create_key(path)
    content = path.read_bytes()
    second = load_or_create_key(path)
    assert first == second
    assert path.read_bytes() == content
    assert Pseudonymizer(first)(ALICE) == Pseudonymizer(second)(ALICE)


def test_fresh_keys_differ(tmp_path: Path) -> None:
    assert load_or_create_key(tmp_path / "a.key") != load_or_create_key(tmp_path / "b.key")


def test_short_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.key"
    path.write_bytes(base64.b64encode(b"x" * 16) + b"\n")
    with pytest.raises(ValueError, match="shorter than 32 bytes"):
        load_or_create_key(path)
